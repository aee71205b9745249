//! The integration tests: one test binary, one module per area (linked once,
//! not once per file). `common` and `rview` are the shared helpers.
//!
//! Run one area with `cargo test --test integration reverse_view::`.

mod common;
mod rview;

mod broken_pipe;
mod cli_errors;
mod e2e_backuppc;
mod forward_view;
mod long_names;
mod manager;
mod manager_config;
mod offline_interop;
mod package;
mod restore_archives;
mod reverse_access;
mod reverse_behaviour;
mod reverse_live;
mod reverse_rsync;
mod reverse_safety;
mod reverse_view;
mod robust;
mod shim_argv;
mod shim_live;
mod structure;
mod toolkit_selftest;
mod vectors;
