//! Run-time edits (`lvs-ctl service|real add|edit|del`) applied to a copy of the desired
//! configuration.

use crate::compile::RealKey;
use crate::{
    api::{Request, ServiceRef},
    config::Config,
};
use std::collections::BTreeSet;

/// Applies one CLI edit to a copy of the desired configuration (and drains), validating the
/// result: the error names the field and value, and nothing is changed on error.
pub fn edit(
    cfg: &Config,
    drained: &BTreeSet<RealKey>,
    req: &Request,
) -> Result<(Config, BTreeSet<RealKey>, String), String> {
    let mut next = cfg.clone();
    let mut drains = drained.clone();
    let find = |c: &Config, t: &ServiceRef| {
        c.services
            .iter()
            .position(|s| t.matches(s))
            .ok_or_else(|| format!("service {t}: no such service"))
    };
    let message = match req {
        Request::ServiceAdd { service } => {
            let sref = ServiceRef::of(service);
            if find(&next, &sref).is_ok() {
                return Err(format!(
                    "service {sref}: exists already (use `service edit`)"
                ));
            }
            next.services.push(service.clone());
            format!("service {sref} added with {} real(s)", service.reals.len())
        }
        Request::ServiceEdit {
            target,
            persistent,
            quiescent,
            name,
        } => {
            let i = find(&next, target)?;
            let s = &mut next.services[i];
            if let Some(p) = persistent {
                s.persistent = *p;
            }
            if let Some(q) = quiescent {
                s.quiescent = *q;
            }
            if let Some(n) = name {
                s.name = Some(n.clone());
            }
            format!("service {target} changed")
        }
        Request::ServiceDel { target } => {
            let i = find(&next, target)?;
            next.services.remove(i);
            drains.retain(|(s, _)| s != target);
            format!("service {target} removed")
        }
        Request::RealAdd { target, real } => {
            let i = find(&next, target)?;
            if next.services[i]
                .reals
                .iter()
                .any(|r| r.address == real.address)
            {
                return Err(format!(
                    "real {} of {target}: exists already (use `real edit`)",
                    real.address
                ));
            }
            next.services[i].reals.push(real.clone());
            format!(
                "real {} added to {target} with weight {}",
                real.address, real.weight
            )
        }
        Request::RealEdit {
            target,
            address,
            weight,
            method,
            drain,
        } => {
            let i = find(&next, target)?;
            let r = next.services[i]
                .reals
                .iter_mut()
                .find(|r| r.address == *address)
                .ok_or_else(|| format!("real {address} of {target}: no such real"))?;
            let mut what = Vec::new();
            if let Some(w) = weight {
                r.weight = *w;
                what.push(format!("weight {w}"));
            }
            if let Some(m) = method {
                r.method = *m;
                what.push(format!("method {m}"));
            }
            match drain {
                Some(true) => {
                    drains.insert((*target, *address));
                    what.push("drained (weight 0, keeps its flows)".into());
                }
                Some(false) => {
                    drains.remove(&(*target, *address));
                    what.push("undrained".into());
                }
                None => {}
            }
            if what.is_empty() {
                return Err(
                    "real edit: nothing to change (give --weight, --method, --drain or --undrain)"
                        .into(),
                );
            }
            format!("real {address} of {target}: {}", what.join(", "))
        }
        Request::RealDel { target, address } => {
            let i = find(&next, target)?;
            let before = next.services[i].reals.len();
            next.services[i].reals.retain(|r| r.address != *address);
            if next.services[i].reals.len() == before {
                return Err(format!("real {address} of {target}: no such real"));
            }
            drains.remove(&(*target, *address));
            format!("real {address} removed from {target}")
        }
        _ => return Err("internal: not an edit".into()),
    };
    next.validate()
        .map_err(|e| e.to_string().replace('\n', "; "))?;
    Ok((next, drains, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        compile::tests::{cfg, ip, sref},
        config,
    };

    #[test]
    fn edits_are_validated_and_name_the_field_and_value() {
        let c = cfg();
        let web = sref("198.18.100.1:80/tcp");
        let none = BTreeSet::new();
        let add = Request::RealAdd {
            target: web,
            real: config::Real {
                weight: 70000,
                ..config::Real::new(ip("198.18.3.2"))
            },
        };
        let e = edit(&c, &none, &add).unwrap_err();
        assert_eq!(
            e,
            "services[0].reals[2].weight: 70000 is out of range 0..=65535"
        );
        let add = Request::RealAdd {
            target: web,
            real: config::Real::new(ip("2001:db8::2")),
        };
        assert!(edit(&c, &none, &add).unwrap_err().contains("2001:db8::2"));
        let del = Request::RealDel {
            target: sref("198.18.100.1:81/tcp"),
            address: ip("198.18.1.2"),
        };
        assert_eq!(
            edit(&c, &none, &del).unwrap_err(),
            "service 198.18.100.1:81/tcp: no such service"
        );
        let del = Request::RealDel {
            target: web,
            address: ip("198.18.7.7"),
        };
        assert_eq!(
            edit(&c, &none, &del).unwrap_err(),
            "real 198.18.7.7 of 198.18.100.1:80/tcp: no such real"
        );

        let drain = Request::RealEdit {
            target: web,
            address: ip("198.18.2.2"),
            weight: None,
            method: None,
            drain: Some(true),
        };
        let (c2, d2, msg) = edit(&c, &none, &drain).unwrap();
        assert_eq!(c2, c, "a drain is not a config change");
        assert!(d2.contains(&(web, ip("198.18.2.2"))));
        assert!(msg.contains("drained"), "{msg}");
        let del = Request::RealDel {
            target: web,
            address: ip("198.18.2.2"),
        };
        let (c3, d3, _) = edit(&c2, &d2, &del).unwrap();
        assert_eq!(c3.services[0].reals.len(), 1);
        assert!(d3.is_empty(), "the drain goes with the real");
    }
}
