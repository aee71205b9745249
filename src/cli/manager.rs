//! Options of the manager's subcommands: up, down, status, check.

use std::path::PathBuf;

use clap::Args;

/// `--yaml FILE`: the manager's yaml (`--config` is always a volume XML).
#[derive(Args, Debug, Clone)]
pub struct YamlArg {
    /// Use FILE instead of /etc/encmount/encmount.yaml
    #[arg(
        long = "yaml",
        value_name = "FILE",
        long_help = "Read the views from FILE instead of \
            /etc/encmount/encmount.yaml. Without --yaml, $ENCMOUNT_YAML is used \
            when set and the command is not run through sudo. Under sudo, \
            --yaml is accepted only from root."
    )]
    pub file: Option<PathBuf>,
}

/// Which views: names, or all of them.
#[derive(Args, Debug, Clone)]
pub struct Which {
    /// Views to act on, by name
    #[arg(
        value_name = "NAME",
        required_unless_present = "all",
        long_help = "The views to act on, by their names in the yaml. \
            Give names or --all."
    )]
    pub names: Vec<String>,

    /// Act on every view in the yaml
    #[arg(
        short,
        long,
        conflicts_with = "names",
        long_help = "Act on every view in the yaml (for `up`: every view \
            that is not on_demand, unless --include-on-demand)."
    )]
    pub all: bool,
}

/// `encmount up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub yaml: YamlArg,
    #[command(flatten)]
    pub which: Which,

    /// With --all, also mount the on_demand views
    #[arg(
        long,
        requires = "all",
        long_help = "With --all, also mount the views marked on_demand \
            (they still unmount themselves after idle_timeout). Views named \
            on the command line are always mounted."
    )]
    pub include_on_demand: bool,

    /// Run the one view NAME in the foreground (for systemd units)
    #[arg(
        short,
        long,
        conflicts_with = "all",
        long_help = "Serve the one view NAME in this process instead of a \
            detached daemon, until it is unmounted or gets SIGTERM (which \
            unmounts it). For systemd: encmount@NAME.service runs \
            `encmount up NAME --foreground` as Type=simple. A stale mount is \
            cleaned first; a healthy one is an error."
    )]
    pub foreground: bool,
}

/// `encmount down`.
#[derive(Args, Debug)]
pub struct DownArgs {
    #[command(flatten)]
    pub yaml: YamlArg,
    #[command(flatten)]
    pub which: Which,

    /// Detach busy views instead of failing
    #[arg(
        short = 'l',
        long,
        long_help = "Detach a view that is in use (open files, a shell's \
            current directory) instead of failing: it disappears from the \
            mountpoint now, and its daemon ends when the last user is done."
    )]
    pub lazy: bool,
}

/// `encmount status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub yaml: YamlArg,

    /// Views to show (default: all)
    #[arg(
        value_name = "NAME",
        long_help = "The views to show, by name; all views when none is given."
    )]
    pub names: Vec<String>,

    /// Print JSON for scripts (stable field names)
    #[arg(
        long,
        long_help = "Print one JSON object for scripts instead of a table: \
            {\"version\": 1, \"config\": FILE, \"views\": [...]}, each view with \
            name, health (healthy|unresponsive|stale|down|foreign), mounted, \
            healthy, \
            reason, pid, source, mountpoint, readers, on_demand, \
            idle_timeout_secs, started, last_access, idle_secs, open_handles \
            and skipped_names (times in epoch seconds; null when unknown). \
            Field names are stable."
    )]
    pub json: bool,
}

/// `encmount check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub yaml: YamlArg,

    /// Views to check (default: all)
    #[arg(
        value_name = "NAME",
        long_help = "The views to check, by name; all views when none is given. \
            The whole yaml is always validated."
    )]
    pub names: Vec<String>,

    /// Check only the yaml and the views, not the deployment
    #[arg(
        long,
        long_help = "Check only the yaml and the views. Without it, check \
            also checks the deployment: the sudoers drop-in \
            (/etc/sudoers.d/encmount: present, 0440, valid, naming the shim \
            next to this encmount), the shim and its directories (root-owned, \
            not writable by others), the yaml's rsync (--confine-root), each \
            mount root (root-owned, 0700 or 0710, ACL user:READER:--x per \
            reader) and, where AppArmor is enabled, that both profiles are \
            loaded."
    )]
    pub views_only: bool,
}
