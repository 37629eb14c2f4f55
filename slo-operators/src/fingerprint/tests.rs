//! Unit and property tests of the fingerprint module.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn small_cfg(max: usize) -> MinerConfig {
    MinerConfig { max_templates: max, ..MinerConfig::default() }
}

fn template_set(m: &TemplateMiner) -> BTreeSet<String> {
    m.templates().into_iter().map(|(_, t)| t.to_string()).collect()
}

#[test]
fn fingerprint_is_sha256_hex() {
    let fp = fingerprint_of("");
    assert_eq!(fp.to_string(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
    let json = serde_json::to_string(&fp).unwrap();
    assert_eq!(json, format!("\"{fp}\""));
    assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
    assert!(serde_json::from_str::<Fingerprint>("\"zz\"").is_err());
}

#[test]
fn mines_and_generalises() {
    let mut m = TemplateMiner::new(MinerConfig::default());
    let a = m.mine("session opened for user cyrus by (uid=0)");
    assert!(a.is_new);
    assert_eq!(a.template, "session opened for user cyrus by (uid=<*>)");
    assert_eq!(a.fingerprint, fingerprint_of(&a.template));
    let b = m.mine("session opened for user cyrus by (uid=42)");
    assert!(!b.is_new);
    assert_eq!(b.cluster, a.cluster);
    assert_eq!(b.template, a.template);
    let c = m.mine("Failed password for root from 10.0.0.1 port 22 ssh2");
    assert_ne!(c.cluster, a.cluster);
    assert_eq!(c.template, "Failed password for root from <*> port <*> ssh2");
    assert_eq!(m.template_of(a.cluster), Some(a.template.as_str()));
    assert_eq!(m.len(), 2);
    assert_eq!(m.lines(), 3);
}

#[test]
fn sibling_merge_turns_a_word_position_into_a_variable() {
    let mut m = TemplateMiner::new(MinerConfig::default());
    let a = m.mine("session closed for user cyrus");
    let b = m.mine("session closed for user news");
    assert_ne!(a.cluster, b.cluster, "two values are not enough evidence");
    let c = m.mine("session closed for user test");
    assert!(!c.is_new);
    assert_eq!(c.template, "session closed for user <*>");
    assert_eq!(m.len(), 1);
    // absorbed clusters answer with the merged template
    assert_eq!(m.template_of(a.cluster), Some("session closed for user <*>"));
    assert_eq!(m.template_of(b.cluster), Some("session closed for user <*>"));
    assert_eq!(m.canonical(b.cluster), c.cluster);
    let d = m.mine("session closed for user root");
    assert_eq!(d.cluster, c.cluster);
    // aliases survive a restart
    let r = TemplateMiner::restore(m.snapshot());
    assert_eq!(r.template_of(a.cluster), Some("session closed for user <*>"));
}

#[test]
fn variable_length_variants_share_a_template() {
    let mut m = TemplateMiner::new(MinerConfig::default());
    let a = m.mine("conn 7 close, 0 bytes sent, 0 bytes received, lifetime 00:01");
    let b = m.mine("conn 8 close, 10 bytes (0.01 KB) sent, 0 bytes received, lifetime 00:02");
    let c = m.mine("conn 9 close, 0 bytes sent, 0 bytes received, lifetime <1 sec");
    // three clusters (different token counts) reporting one template and fingerprint
    assert_ne!(a.cluster, b.cluster);
    assert_ne!(a.cluster, c.cluster);
    let want = "conn <*> close, <*> bytes <*> sent, <*> bytes received, lifetime <*>";
    assert_eq!(c.template, want);
    for r in [&a, &b, &c] {
        assert_eq!(m.template_of(r.cluster), Some(want));
        assert_eq!(m.fingerprint_of_cluster(r.cluster), Some(fingerprint_of(want)));
    }
    assert_eq!(m.mine("conn 1 close, 0 bytes sent, 0 bytes received, lifetime 00:07").template, want);
    // groups survive a restart
    let r = TemplateMiner::restore(m.snapshot());
    assert_eq!(r.template_of(b.cluster), Some(want));
    assert_eq!(r.snapshot(), m.snapshot());
    // a different literal keeps events apart; short skeletons are not grouped
    let d = m.mine("conn 9 close, 0 bytes sent, 0 bytes dropped, lifetime 00:01");
    assert_eq!(d.template, "conn <*> close, <*> bytes sent, <*> bytes dropped, lifetime <*>");
    let e = m.mine("job 1 finished in 5 ms");
    let f = m.mine("job 1 finished in 5");
    assert_eq!(e.template, "job <*> finished in <*> ms");
    assert_eq!(f.template, "job <*> finished in <*>");
    // disabled: plain positional templates
    let cfg = MinerConfig { variable_length: 0, ..MinerConfig::default() };
    let mut m = TemplateMiner::new(cfg);
    m.mine("conn 7 close, 0 bytes sent, 0 bytes received, lifetime 00:01");
    let b = m.mine("conn 8 close, 10 bytes (0.01 KB) sent, 0 bytes received, lifetime 00:02");
    assert_eq!(b.template, "conn <*> close, <*> bytes (<*>) sent, <*> bytes received, lifetime <*>");
}

#[test]
fn masking_rules() {
    use mask::mask_line;
    assert_eq!(mask_line("updateClipping isOverlap:false, x=null"), "updateClipping isOverlap:<*>, x=<*>");
    assert_eq!(mask_line("estimated size 16.0 B, free 17.7 GB"), "estimated size <*>, free <*>");
    assert_eq!(mask_line("node node-D3 is up"), "node node-<*> is up");
    assert_eq!(mask_line("Resolved qq.com:80 ok"), "Resolved <*> ok");
    assert_eq!(mask_line("state.clipTopAmount:10, i:2"), "state.clipTopAmount:<*>, i:<*>");
    assert_eq!(mask_line("may be"), "may be");
}

#[test]
fn memo_keeps_assignment_stable() {
    let mut m = TemplateMiner::new(MinerConfig::default());
    let first = m.mine("alpha beta gamma delta epsilon zeta eta theta iota kappa");
    // generalise the cluster in two positions
    m.mine("alpha beta gamma delta epsilon zeta eta theta XX kappa");
    m.mine("alpha beta gamma delta epsilon zeta eta YY iota kappa");
    let again = m.mine("alpha beta gamma delta epsilon zeta eta theta iota kappa");
    assert_eq!(again.cluster, first.cluster);
}

#[test]
fn random_id_lines_collapse_to_one_template() {
    let mut m = TemplateMiner::new(MinerConfig::default());
    let mut x: u64 = 0x1234_5678;
    for i in 0..5_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let line = format!(
            "request {x:016x} from 10.{}.{}.7:{} took {}ms user=u{} trace=0x{:x}",
            i % 256,
            x % 256,
            x % 65535,
            x % 1000,
            x % 97,
            x >> 3
        );
        m.mine(&line);
    }
    assert_eq!(m.len(), 1, "{:?}", m.templates());
    assert_eq!(m.templates()[0].1, "request <*> from <*> took <*> user=<*> trace=<*>");
    assert_eq!(m.evictions(), 0);
}

#[test]
fn eviction_bound_holds_and_counts() {
    let mut m = TemplateMiner::new(small_cfg(100));
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    let mut created = 0u64;
    for i in 0..2_000usize {
        // distinct non-numeric first tokens => distinct leaves => distinct clusters
        let line =
            format!("{}{} {} thing happened", words[i % 8], words[(i / 8) % 8].repeat(1 + i / 64), words[(i / 3) % 8]);
        if m.mine(&line).is_new {
            created += 1;
        }
        assert!(m.len() <= 100);
    }
    assert!(created > 100);
    assert_eq!(m.evictions(), created - m.len() as u64);
}

#[test]
fn memo_keyed_by_another_hash_version_is_dropped_on_restore() {
    let mut a = TemplateMiner::new(MinerConfig::default());
    for l in ["took 12 ms", "took 7 ms", "cache miss for key alpha"] {
        a.mine(l);
    }
    let state = a.snapshot();
    assert_eq!(state.memo_hash, crate::fingerprint::MEMO_HASH_VERSION);
    assert!(!state.memo.is_empty());
    // same version: the memo survives
    assert_eq!(TemplateMiner::restore(state.clone()).snapshot().memo, state.memo);
    // a snapshot from before versions were recorded (no `memo_hash` field): memo dropped,
    // templates kept
    let mut json: serde_json::Value = serde_json::to_value(&state).unwrap();
    json.as_object_mut().unwrap().remove("memo_hash");
    let old: crate::fingerprint::MinerState = serde_json::from_value(json).unwrap();
    assert_eq!(old.memo_hash, 0);
    let b = TemplateMiner::restore(old);
    let restored = b.snapshot();
    assert!(restored.memo.is_empty());
    assert_eq!(restored.clusters, state.clusters);
}

#[test]
fn snapshot_restore_keeps_fingerprints() {
    let lines = [
        "Receiving block blk_1 src: /10.0.0.1:5 dest: /10.0.0.2:6",
        "session closed for user cyrus",
        "session closed for user news",
        "Receiving block blk_2 src: /10.0.0.3:5 dest: /10.0.0.4:6",
    ];
    let mut a = TemplateMiner::new(MinerConfig::default());
    for l in &lines {
        a.mine(l);
    }
    let state = a.snapshot();
    let json = serde_json::to_string(&state).unwrap();
    let mut b = TemplateMiner::restore(serde_json::from_str(&json).unwrap());
    assert_eq!(b.snapshot(), state);
    for l in &lines {
        assert_eq!(a.mine(l), b.mine(l));
    }
}

#[test]
fn merge_is_symmetric_on_templates() {
    let mut a = TemplateMiner::new(MinerConfig::default());
    let mut b = TemplateMiner::new(MinerConfig::default());
    a.mine("x started 1");
    a.mine("y stopped 2");
    b.mine("y stopped 3");
    b.mine("z failed 4");
    let (sa, sb) = (a.snapshot(), b.snapshot());
    let mut ab = TemplateMiner::restore(sa.clone());
    ab.merge(&sb);
    let mut ba = TemplateMiner::restore(sb);
    ba.merge(&sa);
    assert_eq!(template_set(&ab), template_set(&ba));
    assert_eq!(ab.len(), 3);
}

#[test]
fn batch_writes_quoted_csv() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    let out = dir.path().join("out.csv");
    std::fs::write(
        &input,
        "2024-01-01 10:00:00 INFO a: size 1, free \"2\"\n2024-01-01 10:00:01 INFO a: size 3, free \"4\"\nno header\n",
    )
    .unwrap();
    let fmt =
        slo_dataflow::source::log_format::LogFormat::parse("<Date> <Time> <Level> <Component>: <Content>").unwrap();
    let s = batch::mine_file(&input, Some(&fmt), &out, &MinerConfig::default()).unwrap();
    assert_eq!(s.lines, 3);
    assert_eq!(s.unmatched_header, 1);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        csv,
        "LineId,EventTemplate\n1,\"size <*>, free \"\"<*>\"\"\"\n2,\"size <*>, free \"\"<*>\"\"\"\n3,no header\n"
    );
}

fn line_strategy() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec!["open", "close", "user", "failed", "from", "port", "block", "ok"]);
    let tok = prop_oneof![
        word.prop_map(str::to_string),
        (0u32..100_000).prop_map(|n| n.to_string()),
        (0u64..u64::MAX).prop_map(|n| format!("id={n:x}")),
    ];
    prop::collection::vec(tok, 1..8).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fingerprint_deterministic(s in ".*") {
        prop_assert_eq!(fingerprint_of(&s), fingerprint_of(&s.clone()));
    }

    #[test]
    fn mining_is_deterministic_and_restorable(lines in prop::collection::vec(line_strategy(), 1..60), split in 0usize..60) {
        let split = split.min(lines.len());
        let mut a = TemplateMiner::new(small_cfg(16));
        let mut b = TemplateMiner::new(small_cfg(16));
        for l in &lines[..split] {
            prop_assert_eq!(a.mine(l), b.mine(l));
        }
        // restart b from a snapshot: same results afterwards
        let mut b = TemplateMiner::restore(b.snapshot());
        for l in &lines[split..] {
            let (ra, rb) = (a.mine(l), b.mine(l));
            prop_assert_eq!(&ra, &rb);
            prop_assert_eq!(ra.fingerprint, fingerprint_of(&ra.template));
            prop_assert!(a.len() <= 16);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(lines in prop::collection::vec("\\PC{0,40}", 1..40)) {
        let mut m = TemplateMiner::new(small_cfg(8));
        for l in &lines {
            let r = m.mine(l);
            prop_assert_eq!(r.fingerprint, fingerprint_of(&r.template));
            prop_assert_eq!(m.template_of(r.cluster), Some(r.template.as_str()));
        }
        prop_assert!(m.len() <= 8);
    }

    #[test]
    fn random_ids_collapse(ids in prop::collection::vec((any::<u64>(), any::<u32>(), 0u8..=255, 100u16..600), 1..50)) {
        let mut m = TemplateMiner::new(MinerConfig::default());
        for (id, n, oct, code) in &ids {
            // `id | 1 << 60` so the hex id always contains a digit (a digit-free `abcdef` is a word)
            let hex = id | 1 << 60;
            m.mine(&format!(
                "request id={hex:x} user u{n} from 10.0.{oct}.7:{n} path /api/v1/items/{n} status {code} took {n}ms trace 0x{id:016x}"
            ));
        }
        prop_assert_eq!(m.len(), 1);
        prop_assert_eq!(
            m.templates()[0].1,
            "request id=<*> user <*> from <*> path <*> status <*> took <*> trace <*>"
        );
    }

    #[test]
    fn merge_commutes(xs in prop::collection::vec(line_strategy(), 0..30), ys in prop::collection::vec(line_strategy(), 0..30)) {
        let mut a = TemplateMiner::new(small_cfg(20));
        let mut b = TemplateMiner::new(small_cfg(20));
        for l in &xs { a.mine(l); }
        for l in &ys { b.mine(l); }
        let (sa, sb) = (a.snapshot(), b.snapshot());
        let mut ab = TemplateMiner::restore(sa.clone());
        ab.merge(&sb);
        let mut ba = TemplateMiner::restore(sb);
        ba.merge(&sa);
        prop_assert_eq!(template_set(&ab), template_set(&ba));
        prop_assert!(ab.len() <= 20);
    }
}
