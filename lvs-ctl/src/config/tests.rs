use super::*;

#[test]
fn explore() {
    for text in [
        "global:\n  interfaces: [eth0]\nservices:\n  - vip: 10.0.0.x\n    port: 80\n",
        "global:\n  interfaces: [eth0]\n  bogus: 1\n",
        "global:\n  interfaces: [eth0]\nservices:\n  - vip: 10.0.0.1\n    port: 80\n    reals:\n      - address: 10.1.1.1\n        wieght: 3\n",
        "global:\n  interfaces: [eth0]\n  xdp_mode: fast\n",
        "global:\n  interfaces: [eth0]\nservices:\n  - vip: 10.0.0.1\n    port: 70000\n",
        "global:\n  interfaces: [eth0]\n  check_defaults:\n    interval: 5\n",
        "global: {}\n",
        "services: []\n",
        "global:\n  interfaces: [eth0\n",
        "global:\n  interfaces: [eth0]\nservices:\n  - vip: 10.0.0.1\n    port: 80\n    check:\n      type: dnss\n",
    ] {
        eprintln!("{:?}", parse(text).map(|_| ()));
        if let Err(e) = parse(text) {
            eprintln!("  {e}");
        }
    }
}
