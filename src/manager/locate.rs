//! Line numbers for errors found after parsing: serde_yaml_ng keeps no
//! spans, but it stamps the position of the current node on every error a
//! visitor raises. So to find a node we walk the document again and fail on
//! purpose when we reach it.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The message of the deliberate error; never shown.
const HERE: &str = "\u{1}encmount-locate-here\u{1}";

/// The 1-based line of the node at `path` (mapping keys from the document
/// root), or of its deepest ancestor that exists. A path ending in a key
/// gives the line of that key. `None` if even the first key is missing
/// or the text is not YAML.
pub fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    (1..=path.len()).rev().find_map(|n| find(text, &path[..n]))
}

fn find(text: &str, path: &[&str]) -> Option<usize> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match (Nav { path }).deserialize(de) {
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| l.line()),
        _ => None,
    }
}

/// Descends into the value along `path`; the last element is a key.
struct Nav<'p> {
    path: &'p [&'p str],
}

impl<'de> DeserializeSeed<'de> for Nav<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nav<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Ok(());
        };
        let key_seed = || Key {
            want: first,
            stop: rest.is_empty(),
        };
        while let Some(found) = map.next_key_seed(key_seed())? {
            if found {
                return map.next_value_seed(Nav { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    // Scalars and sequences hold no keys: the path is not there.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// A mapping key: says whether it is the one wanted, or fails right there
/// (stamping the key's position) when it is and the path ends.
struct Key<'p> {
    want: &'p str,
    stop: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        if v != self.want {
            Ok(false)
        } else if self.stop {
            Err(E::custom(HERE))
        } else {
            Ok(true)
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.visit_str(if v { "true" } else { "false" })
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# comment
defaults:
  mount_root: /srv/encmount
views:
  docs:
    source: /home/w/Documents
    exclude: ['*.tmp']

  \"media.2\":
    source: /srv/media
    readers: [a, b]
  flow: {source: /x,
         config: /y}
";

    #[test]
    fn keys_and_values_are_found() {
        assert_eq!(line_of(DOC, &["defaults"]), Some(2));
        assert_eq!(line_of(DOC, &["defaults", "mount_root"]), Some(3));
        assert_eq!(line_of(DOC, &["views", "docs"]), Some(5));
        assert_eq!(line_of(DOC, &["views", "docs", "exclude"]), Some(7));
        assert_eq!(line_of(DOC, &["views", "media.2", "readers"]), Some(11));
        assert_eq!(line_of(DOC, &["views", "flow", "config"]), Some(13));
    }

    #[test]
    fn missing_nodes_fall_back_to_their_parent() {
        assert_eq!(line_of(DOC, &["views", "docs", "mountpoint"]), Some(5));
        assert_eq!(line_of(DOC, &["views", "nope", "source"]), Some(4));
        assert_eq!(line_of(DOC, &["shim"]), None);
    }
}
