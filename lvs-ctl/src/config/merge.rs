//! A reload keeps run-time changes: the running state is the file plus what `lvs-ctl` changed
//! since, so a reload applies only what the file itself changed (a three-way merge).

use super::model::{Config, Real, Service};
use std::net::IpAddr;

fn same_service(a: &Service, b: &Service) -> bool {
    (a.vip, a.port, a.protocol) == (b.vip, b.port, b.protocol)
}

fn find<'a>(services: &'a [Service], like: &Service) -> Option<&'a Service> {
    services.iter().find(|s| same_service(s, like))
}

/// A service without its reals: the part of it that is compared as a whole.
fn head(s: &Service) -> Service {
    Service {
        reals: Vec::new(),
        ..s.clone()
    }
}

/// The running state after a reload: `new_file` where it differs from `old_file` (what the
/// file was when last read), the running state `running` everywhere else. Per service (by VIP,
/// port and protocol) and per real (by address): what the file did not change keeps its
/// run-time edits (a weight set, a real or service added or removed with `lvs-ctl`); what the
/// file changed is taken from the file. The global section is the new file's.
pub fn reload(old_file: &Config, running: &Config, new_file: &Config) -> Config {
    let mut services = Vec::new();
    let mut keys: Vec<&Service> = new_file.services.iter().collect();
    keys.extend(
        running
            .services
            .iter()
            .filter(|s| find(&new_file.services, s).is_none()),
    );
    for key in keys {
        let (was, now, run) = (
            find(&old_file.services, key),
            find(&new_file.services, key),
            find(&running.services, key),
        );
        let merged = match (was, now, run) {
            // The file did not touch it: as it runs (absent if removed at run time).
            (w, n, r) if w == n => r.cloned(),
            // Removed from the file: gone.
            (_, None, _) => None,
            // The file changed or added it, but it was removed at run time: the file's.
            (_, Some(n), None) => Some(n.clone()),
            (w, Some(n), Some(r)) => {
                let mut s = if w.map(head) == Some(head(n)) {
                    head(r)
                } else {
                    head(n)
                };
                s.reals = merge_reals(w.map_or(&[][..], |w| &w.reals[..]), &n.reals, &r.reals);
                Some(s)
            }
        };
        services.extend(merged);
    }
    Config {
        global: new_file.global.clone(),
        services,
    }
}

fn merge_reals(was: &[Real], now: &[Real], run: &[Real]) -> Vec<Real> {
    let get = |list: &[Real], a: IpAddr| list.iter().find(|r| r.address == a).cloned();
    let mut addrs: Vec<IpAddr> = now.iter().map(|r| r.address).collect();
    addrs.extend(
        run.iter()
            .map(|r| r.address)
            .filter(|a| !now.iter().any(|r| r.address == *a)),
    );
    addrs
        .into_iter()
        .filter_map(|a| {
            let (w, n, r) = (get(was, a), get(now, a), get(run, a));
            if w == n { r } else { n }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn cfg(services: &str) -> Config {
        parse(&format!(
            "global: {{interfaces: [eth0]}}\nservices:\n{services}"
        ))
        .expect("test config")
    }

    const WEB: &str =
        "  - {vip: 198.18.0.10, port: 80, reals: [{address: 198.18.1.2}, {address: 198.18.1.3}]}\n";

    #[test]
    fn a_reload_keeps_run_time_edits_the_file_did_not_touch() {
        let file = cfg(WEB);
        // At run time: a weight, a real removed, a service added.
        let running = cfg(
            "  - {vip: 198.18.0.10, port: 80, reals: [{address: 198.18.1.2, weight: 5}]}\n  - {vip: 198.18.0.11, port: 53, protocol: udp, reals: [{address: 198.18.1.9}]}\n",
        );
        // The same file again: nothing changes.
        assert_eq!(reload(&file, &running, &file), running);
        // The file adds a real and a service: those come, the edits stay.
        let next = cfg(
            "  - {vip: 198.18.0.10, port: 80, reals: [{address: 198.18.1.2}, {address: 198.18.1.3}, {address: 198.18.1.4}]}\n  - {vip: 198.18.0.12, port: 80, reals: [{address: 198.18.1.7}]}\n",
        );
        let merged = reload(&file, &running, &next);
        let web = &merged.services[0];
        assert_eq!(
            web.reals
                .iter()
                .map(|r| (r.address.to_string(), r.weight))
                .collect::<Vec<_>>(),
            [("198.18.1.2".to_string(), 5), ("198.18.1.4".to_string(), 1)],
            "weight kept, the removed real stays removed, the new one comes"
        );
        assert_eq!(merged.services.len(), 3, "{merged:?}");
        assert_eq!(merged.services[1].vip.to_string(), "198.18.0.12");
        assert_eq!(merged.services[2].vip.to_string(), "198.18.0.11");
    }

    #[test]
    fn what_the_file_changes_wins() {
        let file = cfg(WEB);
        let running = cfg(
            "  - {vip: 198.18.0.10, port: 80, reals: [{address: 198.18.1.2, weight: 5}, {address: 198.18.1.3}]}\n",
        );
        let next = cfg(
            "  - {vip: 198.18.0.10, port: 80, reals: [{address: 198.18.1.2, weight: 2}, {address: 198.18.1.3}]}\n",
        );
        let merged = reload(&file, &running, &next);
        assert_eq!(merged.services[0].reals[0].weight, 2, "the file set it");
        // A service the file removes goes, edits and all.
        let empty = Config {
            services: Vec::new(),
            ..file.clone()
        };
        assert!(reload(&file, &running, &empty).services.is_empty());
    }
}
