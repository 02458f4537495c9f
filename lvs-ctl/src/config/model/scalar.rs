//! Serde for scalars with errors that name the value (`"10.0.0.x" is not an IP address`).

use super::*;

// ---- addresses with errors that name the value ------------------------------------------------

/// Parses any YAML scalar with [`FromStr`], failing inside the visitor (so that serde_yaml
/// places the error on the value) with a message naming the value: `vip: 10.0.0.x` fails as
/// `"10.0.0.x" is not an IP address`, and `vip: 10` likewise rather than with a type error.
pub(super) struct ParseVisitor<T> {
    what: &'static str,
    _to: std::marker::PhantomData<T>,
}

impl<T: FromStr> ParseVisitor<T> {
    fn parse<E: de::Error>(&self, text: &str) -> Result<T, E> {
        text.trim()
            .parse()
            .map_err(|_| E::custom(format!("{text:?} is not {}", self.what)))
    }
}

impl<T: FromStr> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        self.parse(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.parse(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.parse(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.parse(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.parse(&v.to_string())
    }
}

pub(super) fn parse_scalar<'de, D, T>(d: D, what: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    d.deserialize_any(ParseVisitor {
        what,
        _to: std::marker::PhantomData,
    })
}

macro_rules! address_serde {
    ($module:ident, $ty:ty, $what:literal) => {
        pub(super) mod $module {
            use super::*;

            pub fn serialize<S: Serializer>(a: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(a)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                parse_scalar(d, $what)
            }
        }
    };
    (option $module:ident, $ty:ty, $what:literal) => {
        pub(super) mod $module {
            use super::*;

            pub fn serialize<S: Serializer>(a: &Option<$ty>, s: S) -> Result<S::Ok, S::Error> {
                match a {
                    Some(a) => s.collect_str(a),
                    None => s.serialize_none(),
                }
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
                struct Opt;
                impl<'de> Visitor<'de> for Opt {
                    type Value = Option<$ty>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok(None)
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok(None)
                    }
                    fn visit_some<D: Deserializer<'de>>(
                        self,
                        d: D,
                    ) -> Result<Self::Value, D::Error> {
                        parse_scalar(d, $what).map(Some)
                    }
                }
                d.deserialize_option(Opt)
            }
        }
    };
}

address_serde!(ip_addr, IpAddr, "an IP address");
address_serde!(option opt_ip_addr, IpAddr, "an IP address");
address_serde!(option opt_ipv4, Ipv4Addr, "an IPv4 address");
address_serde!(option opt_ipv6, Ipv6Addr, "an IPv6 address");
