//! Tolerant deserialization helpers.
//!
//! Every helper here accepts *any* JSON value and never fails on a wrong type:
//! it either converts (numbers to strings, numeric strings to numbers) or
//! yields "absent", draining what it skipped. The only errors that escape are
//! real JSON syntax errors from the underlying deserializer. They stream: no
//! intermediate `serde_json::Value` is built for typed fields.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// An object key, borrowed from the input when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

pub(crate) fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

pub(crate) fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the "anything else is absent" visitor methods.
macro_rules! absent_otherwise {
    (scalars) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (null) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            $crate::lenient::drain_seq(seq)?;
            Ok(Default::default())
        }
    };
    (map) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            $crate::lenient::drain_map(map)?;
            Ok(Default::default())
        }
    };
}
pub(crate) use absent_otherwise;

/// Formats a float the way JSON would show it, integers without `.0`.
pub(crate) fn float_to_string(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// A string, a number or a bool as a string; anything else is `None`.
#[derive(Default)]
pub(crate) struct LStr(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for LStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LStr, E> {
                Ok(LStr(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<LStr, E> {
                Ok(LStr(Some(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LStr, E> {
                Ok(LStr(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LStr, E> {
                Ok(LStr(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LStr, E> {
                Ok(LStr(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LStr, E> {
                Ok(LStr(Some(float_to_string(v))))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LStr, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(null);
            absent_otherwise!(seq);
            absent_otherwise!(map);
        }
        d.deserialize_any(V)
    }
}

/// Like [`LStr`], but objects and arrays become their compact JSON text
/// (an exception `value` sent as an object is still shown).
#[derive(Default)]
pub(crate) struct LStrJson(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for LStrJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(LStrJson(None)),
            Value::String(s) => Ok(LStrJson(Some(s))),
            Value::Number(n) => Ok(LStrJson(Some(n.to_string()))),
            Value::Bool(b) => Ok(LStrJson(Some(b.to_string()))),
            v @ (Value::Array(_) | Value::Object(_)) => Ok(LStrJson(Some(v.to_string()))),
        }
    }
}

/// A non-negative integer from a number or a numeric string; else `None`.
#[derive(Default)]
pub(crate) struct LU64(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for LU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LU64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LU64, E> {
                Ok(LU64(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LU64, E> {
                Ok(LU64(u64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LU64, E> {
                Ok(LU64(f64_to_u64(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LU64, E> {
                let v = v.trim();
                Ok(LU64(
                    v.parse::<u64>()
                        .ok()
                        .or_else(|| v.parse::<f64>().ok().and_then(f64_to_u64)),
                ))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LU64, E> {
                Ok(LU64(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LU64, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(null);
            absent_otherwise!(seq);
            absent_otherwise!(map);
        }
        d.deserialize_any(V)
    }
}

fn f64_to_u64(v: f64) -> Option<u64> {
    // `as` saturates; the range check keeps absurd values out.
    (0.0..1.8e19).contains(&v).then_some(v as u64)
}

/// A bool from `true`/`false`, `0`/`1` or their string forms; else `None`.
#[derive(Default)]
pub(crate) struct LBool(pub(crate) Option<bool>);

impl<'de> Deserialize<'de> for LBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LBool, E> {
                Ok(LBool(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LBool, E> {
                Ok(LBool(match v {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                }))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LBool, E> {
                Ok(LBool(match v {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                }))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LBool, E> {
                Ok(LBool(None))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LBool, E> {
                Ok(LBool(match v.trim() {
                    "true" | "True" | "TRUE" | "1" => Some(true),
                    "false" | "False" | "FALSE" | "0" => Some(false),
                    _ => None,
                }))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LBool, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(null);
            absent_otherwise!(seq);
            absent_otherwise!(map);
        }
        d.deserialize_any(V)
    }
}

/// A list of strings (numbers and bools stringified). `null` entries become
/// `""` when `keep_nulls` (source context lines keep their positions), other
/// entries that are not scalars are dropped. Anything but a list is empty.
pub(crate) struct LStrList<const KEEP_NULLS: bool>(pub(crate) Vec<String>);

impl<const K: bool> Default for LStrList<K> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, const K: bool> Deserialize<'de> for LStrList<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const K: bool>;
        impl<'de, const K: bool> Visitor<'de> for V<K> {
            type Value = LStrList<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LStrList<K>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(LStr(s)) = seq.next_element::<LStr>()? {
                    match s {
                        Some(s) => out.push(s),
                        None if K => out.push(String::new()),
                        None => {}
                    }
                }
                Ok(LStrList(out))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LStrList<K>, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(scalars);
            absent_otherwise!(null);
            absent_otherwise!(map);
        }
        d.deserialize_any(V::<K>)
    }
}

/// Any JSON value; `null` is `None`.
#[derive(Default)]
pub(crate) struct LValue(pub(crate) Option<Value>);

impl<'de> Deserialize<'de> for LValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(LValue(match Value::deserialize(d)? {
            Value::Null => None,
            v => Some(v),
        }))
    }
}

/// A type built field by field from a JSON object, tolerating anything.
pub(crate) trait FromMap: Default + Sized {
    /// Consumes the value of `key` from `map` (it must call `next_value`).
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
    /// Post-processing once the object is complete; `None` drops it.
    fn finish(self) -> Option<Self> {
        Some(self)
    }
}

/// Reads the rest of an object into `T`.
pub(crate) fn read_map<'de, T: FromMap, A: MapAccess<'de>>(mut map: A) -> Result<T, A::Error> {
    let mut t = T::default();
    while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
        t.field(&k, &mut map)?;
    }
    Ok(t)
}

/// `T` from an object; any other JSON value is `None`.
pub(crate) struct Obj<T>(pub(crate) Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<'de, T: FromMap> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromMap> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                Ok(Obj(read_map::<T, A>(map)?.finish()))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Obj<T>, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(scalars);
            absent_otherwise!(null);
            absent_otherwise!(seq);
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A list of `T` objects: entries that are not objects (or that `finish`
/// drops) are skipped. A lone object is a list of one; anything else is empty.
pub(crate) struct ObjList<T>(pub(crate) Vec<T>);

impl<T> Default for ObjList<T> {
    fn default() -> Self {
        ObjList(Vec::new())
    }
}

impl<'de, T: FromMap> Deserialize<'de> for ObjList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromMap> Visitor<'de> for V<T> {
            type Value = ObjList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ObjList<T>, A::Error> {
                read_obj_seq(seq).map(ObjList)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ObjList<T>, A::Error> {
                Ok(ObjList(
                    read_map::<T, A>(map)?.finish().into_iter().collect(),
                ))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ObjList<T>, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(scalars);
            absent_otherwise!(null);
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn read_obj_seq<'de, T: FromMap, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<T>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(8).min(256));
    while let Some(Obj(t)) = seq.next_element::<Obj<T>>()? {
        out.extend(t);
    }
    Ok(out)
}

/// The Sentry "values interface": `{"values": [..]}`, a bare list, or a
/// single object; `{}` and anything else is empty.
pub(crate) struct Values<T>(pub(crate) Vec<T>);

impl<T> Default for Values<T> {
    fn default() -> Self {
        Values(Vec::new())
    }
}

impl<'de, T: FromMap> Deserialize<'de> for Values<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromMap> Visitor<'de> for V<T> {
            type Value = Values<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Values<T>, A::Error> {
                read_obj_seq(seq).map(Values)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Values<T>, A::Error> {
                // Either a wrapper with "values" or one bare entry: feed every
                // other key to a single entry and decide at the end.
                let mut values: Option<Vec<T>> = None;
                let mut single = T::default();
                let mut single_keys = false;
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    if k == "values" {
                        values = Some(map.next_value::<ObjList<T>>()?.0);
                    } else {
                        single_keys = true;
                        single.field(&k, &mut map)?;
                    }
                }
                Ok(Values(match values {
                    Some(v) => v,
                    None if single_keys => single.finish().into_iter().collect(),
                    None => Vec::new(),
                }))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Values<T>, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(scalars);
            absent_otherwise!(null);
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Reads the next map value as `T` and returns its inner value.
macro_rules! next {
    ($map:expr, $t:ty) => {
        $map.next_value::<$t>()?.0
    };
}
pub(crate) use next;
