//! Tests for the redactor: per-type positives/negatives, the never-redact list, config,
//! custom and gitleaks rules, and property tests.

use super::*;
use proptest::prelude::*;

fn r() -> Redactor {
    Redactor::with_defaults()
}

/// Redacted text of `s` with the default redactor.
fn red(s: &str) -> String {
    r().redact(s).text
}

/// Types found in `s`.
fn types(s: &str) -> Vec<EntityType> {
    r().redact(s).findings.into_iter().map(|f| f.entity).collect()
}

fn assert_kept(s: &str) {
    let out = r().redact(s);
    assert!(!out.applied(), "expected no redaction in {s:?}, got {:?} -> {:?}", out.findings, out.text);
    assert_eq!(out.text, s);
}

fn assert_one(s: &str, value: &str, t: EntityType) {
    let out = r().redact(s);
    let start = s.find(value).expect("value in text");
    assert!(
        out.findings.iter().any(|f| f.entity == t && f.start == start && f.end == start + value.len()),
        "expected {t} at {value:?} in {s:?}; got {:?} -> {:?}",
        out.findings,
        out.text
    );
    assert!(!out.text.contains(value), "{value:?} survived in {:?}", out.text);
}

#[test]
fn smoke_and_offsets() {
    let s = "user login ok email=a.b@example.com ip=10.1.2.3 trace_id=1371c17149d439536b3216fdaeeb9757";
    let out = r().redact(s);
    assert_eq!(out.text, "user login ok email=<EMAIL> ip=<IP> trace_id=1371c17149d439536b3216fdaeeb9757");
    assert!(out.applied());
    assert_eq!(&s[out.findings[0].start..out.findings[0].end], "a.b@example.com");
    assert_eq!(&s[out.findings[1].start..out.findings[1].end], "10.1.2.3");
    let counts = out.counts();
    assert_eq!(counts["EMAIL"], 1);
    assert_eq!(counts["IPV4"], 1);
}

#[test]
fn send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Redactor>();
    let a = r();
    let b = a.clone();
    assert!(Arc::ptr_eq(&a.inner, &b.inner), "clone shares the compiled state");
}

#[test]
fn placeholders_and_names() {
    assert_eq!(EntityType::Ipv4.placeholder(), "<IP>");
    assert_eq!(EntityType::Ipv6.placeholder(), "<IP>");
    assert_eq!(EntityType::Email.placeholder(), "<EMAIL>");
    assert_eq!(EntityType::Custom(Arc::from("ACME")).placeholder(), "<ACME>");
    for t in BUILTIN_TYPES.iter() {
        assert_eq!(EntityType::from_name(t.as_str()).as_ref(), Some(t));
        assert!(t.placeholder().starts_with('<'));
    }
    assert_eq!(EntityType::from_name("ssn"), Some(EntityType::UsSsn));
    assert_eq!(EntityType::from_name("nope"), None);
}

#[test]
fn email() {
    assert_one("mail to john.doe+x@mail.example.co.uk now", "john.doe+x@mail.example.co.uk", EntityType::Email);
    assert_one(
        "shipment created for Mary Singh <xlam@hotmail.com> tracking=2b0aee0ca9237328",
        "xlam@hotmail.com",
        EntityType::Email,
    );
    assert_kept("ssh git@localhost failed");
    assert_kept("pointer @0x116fa70 and a@b");
}

#[test]
fn ipv4_and_versions() {
    assert_one(
        "10.217.90.148 - - [2025-01-02T19:58:41.537Z] \"GET /x HTTP/1.1\" 200",
        "10.217.90.148",
        EntityType::Ipv4,
    );
    assert_one("peer=218.13.126.93:3741", "218.13.126.93", EntityType::Ipv4);
    assert_one(
        "Failed password for invalid user admin from 158.209.69.23 port 52211 ssh2",
        "158.209.69.23",
        EntityType::Ipv4,
    );
    assert_kept("Package_for_KB3121255~31bf3856ad364e35~amd64~~6.1.1.0, ApplicableState: 112");
    assert_kept("health check ok version=6.1.1.0 uptime_s=303");
    assert_kept("running v6.1.1.0 now");
    assert_kept("version 10.0.19041.1 build");
    assert_kept("release 1.2.3.4-rc1 shipped");
    assert_kept("bad octets 256.1.1.1 and 1.2.3");
    assert_kept("health check ok version=1.14.2 uptime_s=303 pod=frontend-06f7e3dfc-6tnov");
}

#[test]
fn ipv6_and_mac_never_times() {
    assert_one(
        "conn from [7e62:aa0a:1df9:fd78:9c65:3939:2b05:37e6]:443 tls=1.3",
        "7e62:aa0a:1df9:fd78:9c65:3939:2b05:37e6",
        EntityType::Ipv6,
    );
    assert_one("link-local fe80::1ff:fe23:4567:890a up", "fe80::1ff:fe23:4567:890a", EntityType::Ipv6);
    assert_one("bind ::1 ok", "::1", EntityType::Ipv6);
    assert_one("dhcp lease 51.208.155.114 -> f0:e4:91:c5:b1:0b host=x", "f0:e4:91:c5:b1:0b", EntityType::Mac);
    assert_one("nic 00-1A-2B-3C-4D-5E up", "00-1A-2B-3C-4D-5E", EntityType::Mac);
    assert_kept("at 12:30:45 and 00:55:53.331 and 23:59");
    assert_kept("Jul 01 08:16:53 PDT 2005");
    assert_kept("2025-01-11T00:55:53.331Z INFO done");
    assert_kept("std::vector and Foo::bar and onTouchEvent::0");
    assert_kept("chip FF:F2:9F:16:E2:23:00:0D:60:E9:1D:DC status");
}

#[test]
fn phone() {
    for p in [
        "+49 30 79244026",
        "+1 (972) 997-5288",
        "+44(0)113 4960607",
        "+441614960140",
        "+1-624-711-6130x2051",
        "(795)902-5990",
        "(0116) 4960470",
        "020 7946 0093",
        "001-721-734-8287x732",
        "822.372.0565",
    ] {
        assert_one(&format!("sms sent to {p} for user"), p, EntityType::Phone);
        assert_one(&format!("{{\"phone\":\"{p}\",\"x\":1}}"), p, EntityType::Phone);
    }
    assert_one("{\"phone\":\"0289018221\"}", "0289018221", EntityType::Phone);
    assert_one("sms sent to 3554607365 for user x", "3554607365", EntityType::Phone);
    assert_kept("request completed status=200 route=/cart latency_ms=671 size=1048576");
    assert_kept("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1");
    assert_kept("eventTime=261843648, event=0 (call 1) (flags = 00000000, progress = NULL");
    assert_kept("epoch 1120231520 2005.07.01 2005-07-01-08.25.20.466953");
}

#[test]
fn credit_card() {
    for c in [
        "349960308246284",
        "2281-1637-2651-6760",
        "4483 3801 4126 9062",
        "4111111111111111",
        "5500 0000 0000 0004",
        "2720 9900 0000 0007",
    ] {
        assert_one(&format!("payment declined card={c} customer=\"x\""), c, EntityType::CreditCard);
    }
    // a card followed by another number whose digits would pass 19 in all
    assert_one("charge 4000000000000002 00000 ok", "4000000000000002", EntityType::CreditCard);
    assert_one("charge 4111 1111 1111 1111 1234 5678 ok", "4111 1111 1111 1111", EntityType::CreditCard);
    // Luhn failure, unknown IIN, id-like keys
    assert_kept("payment declined card=4111111111111112 ok");
    assert_kept("order 9111111111111111 ok");
    assert_kept("tracking=4072755398003689 span_id=4111111111111111");
    // any key containing an id word counts (the proptest generator skips these cases)
    assert_kept("x iD: 4000000000000002 y");
    assert_kept("{\"dd.trace_id\":\"4000000000000002\"}");
    assert_kept("blk_38865049064139660 and blk_-6952295868487656571");
}

#[test]
fn iban_and_ssn() {
    assert_one("payout iban=GB82WEST12345698765432 amount=120.50 EUR", "GB82WEST12345698765432", EntityType::Iban);
    assert_one("payout to DE89 3704 0044 0532 0130 00 today", "DE89 3704 0044 0532 0130 00", EntityType::Iban);
    assert_kept("payout iban=GB82WEST12345698765433 amount=1");
    assert_one("kyc check ssn=507-44-7354 name=\"x\"", "507-44-7354", EntityType::UsSsn);
    assert_one("kyc check ssn=507447354 ok", "507447354", EntityType::UsSsn);
    assert_kept("ids 000-12-3456 666-12-3456 123-00-4567 on 2025-01-11");
}

#[test]
fn tokens_and_keys() {
    let jwt = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiOTI3MTQ0IiwgImlhdCI6IDE3MDIxMjM5MzJ9.9TsmFS0mO6g7A3zUli5DSAEla4henJBR8yCw24Pznqc";
    assert_one(&format!("Authorization: Bearer {jwt} peer=1"), jwt, EntityType::Jwt);
    assert_one(
        "headers={\"authorization\":\"Bearer aHUQPFeNBTxaQWk8J_zF_alHlsZfYcMMDktXP.\",\"x\":1}",
        "aHUQPFeNBTxaQWk8J_zF_alHlsZfYcMMDktXP.",
        EntityType::AuthHeader,
    );
    assert_one("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", EntityType::AuthHeader);
    assert_kept("a basic check of the bearer token flow");
    assert_one(
        "s3 upload failed access_key_id=AKIATFQXKWOVOMPZOM7W region=us-east-1",
        "AKIATFQXKWOVOMPZOM7W",
        EntityType::AwsAccessKey,
    );
    assert_one("sts ASIAFQO3XO7CV2XZMASE ok", "ASIAFQO3XO7CV2XZMASE", EntityType::AwsAccessKey);
    assert_one(
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        EntityType::AwsSecretKey,
    );
    assert_one(
        "AWS creds: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        EntityType::AwsSecretKey,
    );
    for t in [
        "ghp_k7L2lua530DtAMq94F8epRyRTLoAtz4TFbY3",
        "gho_EqmSM9wCZ7Uw9xfogoEmvnEN5N1aE6PwZPf1",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP",
        "glpat-xYz12345678901234567",
        "xoxb-972997528820-0182633043483-WLuqIA1id6Vw5DQL05HA064G",
        "sk_live_HGb3CXlMaXZjljENUhJduRHH",
        "rk_live_zPptEJQzhkPkenG5ZFJoC6vW",
        "pk_test_zPptEJQzhkPkenG5ZFJoC6vW",
        "sk-proj-Ab3dEf5hIj7lMn9pQr1tUv3xYz5",
    ] {
        assert_one(&format!("ci: cloning with token {t} into /workspace"), t, EntityType::ApiToken);
    }
    assert_kept("task-1234 and disk-usage and ask-me-anything-please-ok-123");
    assert_kept("timezone Asia/Shanghai and ASIA region");
}

#[test]
fn private_key_block() {
    let s = "cfg loaded\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabc\n-----END RSA PRIVATE KEY-----\ndone";
    let out = r().redact(s);
    assert_eq!(out.text, "cfg loaded\n<PRIVATE_KEY>\ndone");
    assert_kept("-----BEGIN CERTIFICATE----- MIIB -----END CERTIFICATE-----");
}

#[test]
fn passwords() {
    assert_one(
        "db connect failed dsn=postgres://app:7jD7P+@w*_@db-0.internal:5432/orders",
        "7jD7P+@w*_",
        EntityType::Password,
    );
    assert_one("dsn=postgres://app:H2XhH8_JSe%cG@db-0.internal:5432/orders", "H2XhH8_JSe%cG", EntityType::Password);
    assert_one("redis://:s3cr3t@cache:6379/0", "s3cr3t", EntityType::Password);
    assert_one("login password=hunter2 ok", "hunter2", EntityType::Password);
    assert_one("{\"db_password\": \"p@ss w0rd\"}", "p@ss w0rd", EntityType::Password);
    assert_one("Server=db;User Id=sa;Password=Sup3r!;Encrypt=true", "Sup3r!", EntityType::Password);
    assert_one("client_secret: abcDEF123", "abcDEF123", EntityType::Password);
    assert_one("api_key=abc123def456 x", "abc123def456", EntityType::Password);
    assert_one("apikey=abc123def456 x", "abc123def456", EntityType::Password);
    assert_one("access_token=ya29.a0Af_x x", "ya29.a0Af_x", EntityType::Password);
    assert_one("pwd=qwerty", "qwerty", EntityType::Password);
    assert_one("passwd: letmein", "letmein", EntityType::Password);
    assert_kept("password=*** token_count=12 max_tokens=100 password_reset=true secret=null");
    assert_kept("https://example.com/path?q=1 and http://host:8080/a@b");
    // `user@host` in a URL without a password is reported as an e-mail address
    assert_eq!(types("ssh://git@github.com/x"), vec![EntityType::Email]);
    assert_kept("all tests passed, tokenizer ready");
}

#[test]
fn usernames_and_home() {
    assert_one(
        "sshd[1628]: Failed password for invalid user admin from 158.209.69.23 port 52211 ssh2",
        "admin",
        EntityType::Username,
    );
    assert_one("Failed password for root from 1.2.3.4 port 22 ssh2", "root", EntityType::Username);
    assert_one("session opened for user alice by (uid=0)", "alice", EntityType::Username);
    assert_one("Invalid user bob from 10.0.0.1", "bob", EntityType::Username);
    assert_one("auth failure; logname= uid=0 ruser= rhost=1.2.3.4  user=carol", "carol", EntityType::Username);
    assert_one("login ok username=dave", "dave", EntityType::Username);
    assert_eq!(types("ruser= rhost=example"), Vec::<EntityType>::new());
    // an e-mail after "for user" is an e-mail
    assert_eq!(types("sms ok for user chelsea52@example.net status=1"), vec![EntityType::Email]);
    assert_kept("user login ok status=200 and user=0");
    assert_eq!(red("open /home/alice/.ssh/id_rsa"), "open /home/<HOME_USER>/.ssh/id_rsa");
    assert_eq!(red("open /Users/bob/Library"), "open /Users/<HOME_USER>/Library");
    assert_eq!(red("to C:\\Users\\xavier\\AppData\\Local"), "to C:\\Users\\<HOME_USER>\\AppData\\Local");
    assert_kept("open /Users/Shared/file and /home/");
}

#[test]
fn never_redact_ids_times_numbers() {
    for s in [
        "trace_id=1371c17149d439536b3216fdaeeb9757 span_id=923d5a4fd12aabfe",
        "GET /api/v1/orders/39263059-f28c-405d-9fb1-7c2390c192cf HTTP/1.1",
        "x-request-id: 4cbd87ad-5c90-4958-b403-e430ec66a787",
        "uuid 12345678-1234-1234-1234-123456789012",
        "2025-01-11T00:55:53.331Z INFO [cartservice-c123b1612-10epf] latency_ms=671 duration=238ms",
        "2016-09-28 04:30:33, Info CBS ApplicableState: 112, CurrentState:112",
        "081109 203615 148 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock size 67108864",
        "took 1.5s, 250ms, 3m20s; retries=3 bytes=1048576 ratio=0.9990000000000001",
        "tracking=4072755398003680 amount=120.50 EUR",
        "version=2024-06-20 tls=1.3",
    ] {
        assert_kept(s);
    }
}

#[test]
fn config_disable_enable() {
    let cfg = RedactorConfig { disabled: vec!["EMAIL".into(), "IP".into()], ..Default::default() };
    let rd = Redactor::new(cfg).unwrap();
    let out = rd.redact("a@example.com 10.0.0.1 card=4111111111111111");
    assert_eq!(out.text, "a@example.com 10.0.0.1 card=<CREDIT_CARD>");
    let cfg = RedactorConfig { enabled: vec!["IPV6".into()], ..Default::default() };
    let rd = Redactor::new(cfg).unwrap();
    assert_eq!(rd.redact("a@example.com 10.0.0.1 fe80::1:2").text, "a@example.com 10.0.0.1 <IP>");
    let err = Redactor::new(RedactorConfig { disabled: vec!["NOPE".into()], ..Default::default() }).unwrap_err();
    assert!(matches!(err, RedactError::UnknownType(_)));
}

#[test]
fn config_from_toml_and_custom_rules() {
    let cfg: RedactorConfig = toml::from_str(
        r#"
        disabled = ["PHONE"]
        [[custom_rules]]
        name = "employee_id"
        regex = 'EMP-(\d{6})'
        keywords = ["emp-"]
        secret_group = 1
        entity = "employee"
        "#,
    )
    .unwrap();
    let rd = Redactor::new(cfg).unwrap();
    let out = rd.redact("badge EMP-123456 scanned, call +49 30 79244026");
    assert_eq!(out.text, "badge EMP-<EMPLOYEE> scanned, call +49 30 79244026");
    assert_eq!(out.counts()["EMPLOYEE"], 1);
    // keyword prefilter: rule does not run without the keyword (text has no "emp-")
    assert!(!rd.redact("badge 123456").applied());
    // a bad regex is reported with the rule name, never with input text
    let err = Redactor::new(RedactorConfig {
        custom_rules: vec![CustomRule { name: "broken".into(), regex: "(unclosed".into(), ..Default::default() }],
        ..Default::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("broken"), "{msg}");
}

const GITLEAKS_FIXTURE: &str = r#"
title = "fixture"
[allowlist]
paths = ['''\.png$''']

[[rules]]
id = "acme-api-token"
description = "ACME token"
regex = '''\b(acme_[a-z0-9]{16})\b'''
secretGroup = 1
keywords = ["acme_"]

[[rules]]
id = "generic-high-entropy"
description = "needs entropy"
regex = '''secretval=([A-Za-z0-9]{12,})'''
entropy = 3.0
keywords = ["secretval"]

[[rules]]
id = "path-only"
path = '''id_rsa$'''

[[rules]]
id = "bad-regex"
regex = '''(?P<x>abc'''
keywords = ["abc"]
"#;

#[test]
fn gitleaks_inline_fixture() {
    let mut rd = r();
    let n = rd.load_gitleaks_toml(GITLEAKS_FIXTURE).unwrap();
    assert_eq!(n, 2);
    let skipped: Vec<&str> = rd.skipped_rules().iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(skipped, vec!["path-only", "bad-regex"]);
    let out = rd.redact("deploy with acme_0123456789abcdef done");
    assert_eq!(out.text, "deploy with <SECRET> done");
    // entropy filter: low-entropy value is kept (the built-in `secret` key rule does not
    // apply because the key is `secretval`... which contains "secret": disable PASSWORD)
    let mut rd2 = Redactor::new(RedactorConfig { disabled: vec!["PASSWORD".into()], ..Default::default() }).unwrap();
    rd2.load_gitleaks_toml(GITLEAKS_FIXTURE).unwrap();
    assert!(!rd2.redact("secretval=aaaaaaaaaaaaaaaa").applied());
    assert!(rd2.redact("secretval=Xk9fQ2mZ7pL4wR8t").applied());
    // strict mode names the failing rule id
    let err = r().load_gitleaks_toml_opts(GITLEAKS_FIXTURE, true).unwrap_err();
    assert!(err.to_string().contains("bad-regex"), "{err}");
    // clones taken before loading are unaffected
    let base = r();
    let mut c = base.clone();
    c.load_gitleaks_toml(GITLEAKS_FIXTURE).unwrap();
    assert_eq!(base.rule_count(), 0);
    assert_eq!(c.rule_count(), 2);
    assert!(matches!(r().load_gitleaks_toml("[[rules]\nbroken"), Err(RedactError::Toml(_))));
}

#[test]
fn gitleaks_shared_default_rules() {
    // `../shared` seen from the repository root; `SLO_SHARED_DIR` overrides it
    let shared = std::env::var_os("SLO_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let path = shared.join("datasets/pii/gitleaks-default-rules.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipping: {} not present (../shared is absent)", path.display());
        return;
    };
    let mut rd = r();
    let n = rd.load_gitleaks_toml(&text).unwrap();
    let skipped = rd.skipped_rules().len();
    println!("gitleaks default rules: {n} loaded, {skipped} skipped");
    for (id, why) in rd.skipped_rules() {
        println!("  skipped {id}: {why}");
    }
    assert!(n >= 150, "only {n} gitleaks rules compiled");
    let out = rd.redact("export GITLAB=glpat-xYz12345678901234567 done");
    assert!(out.applied());
    assert!(!out.text.contains("glpat-xYz12345678901234567"));
}

#[test]
fn gitleaks_rule_file_via_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, GITLEAKS_FIXTURE).unwrap();
    let cfg = RedactorConfig { rule_files: vec![path.clone()], ..Default::default() };
    let rd = Redactor::new(cfg).unwrap();
    assert_eq!(rd.rule_count(), 2);
    assert_eq!(rd.redact("x acme_0123456789abcdef y").text, "x <SECRET> y");
    let strict = RedactorConfig { rule_files: vec![path], strict_rule_files: true, ..Default::default() };
    let err = Redactor::new(strict).unwrap_err();
    assert!(err.to_string().contains("bad-regex"), "{err}");
}

#[test]
fn rule_file_io_error_names_path_only() {
    let cfg = RedactorConfig { rule_files: vec!["/nonexistent/rules.toml".into()], ..Default::default() };
    let err = Redactor::new(cfg).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/rules.toml"));
}

#[test]
fn unicode_boundaries() {
    let s = "naïve ünïcødé — mail ü@exämple.com 10.0.0.1 café password=pässwörd €";
    let out = r().redact(s);
    for f in &out.findings {
        assert!(s.is_char_boundary(f.start) && s.is_char_boundary(f.end));
    }
    assert!(!out.text.contains("10.0.0.1"));
    assert!(!out.text.contains("pässwörd"));
}

// ------------------------------------------------------------------ property tests

fn luhn_complete(prefix: &str, len: usize, body: &[u8]) -> String {
    let mut d: Vec<u8> = prefix.bytes().map(|c| c - b'0').collect();
    let mut k = 0;
    while d.len() < len - 1 {
        d.push(body[k % body.len()] % 10);
        k += 1;
    }
    for check in 0..10 {
        let mut t = d.clone();
        t.push(check);
        if detect::luhn(&t) {
            return t.iter().map(|x| char::from(b'0' + x)).collect();
        }
    }
    unreachable!()
}

fn pii_value() -> impl Strategy<Value = (String, EntityType)> {
    prop_oneof![
        ("[a-z][a-z0-9._]{0,10}[a-z0-9]", "[a-z]{2,10}", "(com|org|net|io|de)")
            .prop_map(|(l, d, t)| (format!("{l}@{d}.{t}"), EntityType::Email)),
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| (format!("{a}.{b}.{c}.{d}"), EntityType::Ipv4)),
        proptest::collection::vec(1u16..=0xffff, 8)
            .prop_map(|g| (g.iter().map(|x| format!("{x:x}")).collect::<Vec<_>>().join(":"), EntityType::Ipv6)),
        proptest::collection::vec(0u8..=255, 6)
            .prop_map(|g| (g.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":"), EntityType::Mac)),
        (
            prop_oneof![
                Just(("4", 16usize)),
                Just(("51", 16)),
                Just(("2221", 16)),
                Just(("2720", 16)),
                Just(("37", 15)),
                Just(("6011", 16))
            ],
            proptest::collection::vec(0u8..10, 20)
        )
            .prop_map(|((p, l), body)| (luhn_complete(p, l, &body), EntityType::CreditCard)),
        ("[A-Za-z0-9_-]{10,30}", "[A-Za-z0-9_-]{10,30}", "[A-Za-z0-9_-]{10,43}")
            .prop_map(|(a, b, c)| (format!("eyJ{a}.{b}.{c}"), EntityType::Jwt)),
        ("(AKIA|ASIA)", "[A-Z2-7]{16}").prop_map(|(p, s)| (format!("{p}{s}"), EntityType::AwsAccessKey)),
        ("(ghp_|gho_|ghs_)", "[A-Za-z0-9]{36}").prop_map(|(p, s)| (format!("{p}{s}"), EntityType::ApiToken)),
        ("(sk|rk)", "[A-Za-z0-9]{24}").prop_map(|(p, s)| (format!("{p}_live_{s}"), EntityType::ApiToken)),
        ("[0-9]{12}", "[0-9]{13}", "[A-Za-z0-9]{24}")
            .prop_map(|(a, b, c)| (format!("xoxb-{a}-{b}-{c}"), EntityType::ApiToken)),
        (101u16..=665, 10u8..=99, 1000u16..=9999)
            .prop_map(|(a, g, s)| (format!("{a:03}-{g:02}-{s:04}"), EntityType::UsSsn)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn injected_pii_never_survives(
        line in "[ -~]{0,80}",
        pos in 0usize..100,
        (value, t) in pii_value(),
    ) {
        let cut = pos.min(line.len());
        let text = format!("{} {} {}", &line[..cut], value, &line[cut..]);
        let vstart = cut + 1;
        // Documented exemption: a number right after an id-like key (`iD: 4000000000000002`,
        // `trace_id=...`) is an identifier, not a card, phone or SSN.
        let numeric = matches!(t, EntityType::CreditCard | EntityType::Phone | EntityType::UsSsn);
        prop_assume!(!(numeric && super::detect::id_like_key(super::detect::key_before(text.as_bytes(), vstart))));
        let vend = vstart + value.len();
        let out = r().redact(&text);
        prop_assert!(!out.text.contains(&value), "value {:?} survived: {:?} -> {:?}", value, text, out.text);
        // findings are valid char boundaries, sorted, non-overlapping, and cover the value
        let mut last = 0;
        for f in &out.findings {
            prop_assert!(f.start < f.end && f.end <= text.len());
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            prop_assert!(f.start >= last);
            last = f.end;
        }
        let covered = (vstart..vend).all(|p| out.findings.iter().any(|f| f.start <= p && p < f.end));
        prop_assert!(covered, "value {:?} not fully covered in {:?}: {:?}", value, text, out.findings);
        // the in-place form (used by the pipeline) redacts exactly the same
        let mut in_place = text.clone();
        let findings = r().redact_in_place(&mut in_place);
        prop_assert_eq!(in_place, out.text);
        prop_assert_eq!(findings, out.findings);
    }

    #[test]
    fn many_findings_are_written_like_few(
        values in proptest::collection::vec(pii_value(), 0..20),
    ) {
        // up to IN_PLACE_MAX findings are replaced in the text's buffer, more in a new one
        let joined = values.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>().join(" and ");
        let text = format!("got {joined} in all");
        let mut redacted = text.clone();
        let mut findings = vec![Finding { entity: EntityType::Email, start: 0, end: 3 }]; // stale
        r().redact_in_place_with(&mut redacted, &mut findings);
        let mut expected = String::new();
        let mut last = 0;
        for f in &findings {
            expected.push_str(&text[last..f.start]);
            expected.push_str(&f.entity.placeholder_str());
            last = f.end;
        }
        expected.push_str(&text[last..]);
        prop_assert_eq!(&redacted, &expected);
        prop_assert!(findings.len() >= values.len(), "{:?}", findings);
        for (v, _) in &values {
            prop_assert!(!redacted.contains(v.as_str()), "{:?} survived in {:?}", v, redacted);
        }
    }

    #[test]
    fn keyword_matcher_equals_aho_corasick(
        parts in proptest::collection::vec(prop_oneof![
            "[ -~]{0,10}",
            "[a-zA-Z_:/\\\\-]{0,6}",
            proptest::sample::select(super::detect::keywords().collect::<Vec<_>>())
                .prop_map(str::to_string),
            (proptest::sample::select(super::detect::keywords().collect::<Vec<_>>()), any::<u64>())
                .prop_map(|(k, bits)| k
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if bits >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                    .collect::<String>()),
            "\\PC{0,4}",
        ], 0..10),
    ) {
        let text = parts.concat();
        let (ours, theirs) = super::detect::keyword_matches_both(&text);
        prop_assert_eq!(ours, theirs, "{:?}", text);
    }

    #[test]
    fn structural_skipping_equals_every_step(
        parts in proptest::collection::vec(prop_oneof![
            "[ -~]{0,12}",
            "[0-9a-fA-F:.@+()-]{1,12}",
            "[0-9 .-]{1,16}",
            (pii_value()).prop_map(|(v, _)| v),
            Just("fe80::1".to_string()),
            Just("DE89 3704 0044 0532 0130 00".to_string()),
            Just("GB82WEST12345698765432".to_string()),
            "[a-f]{2}(-[a-f]{2}){5}",
            "[0-9]{1,9}[ a-gx(/:._-]?[0-9 ()]{0,6}",
            "(phone|tel|ssn|card|call|id)[=: ]{1,2}",
            "[0-9]{4}[/.-][0-9]{2}[/.-][0-9]{2,9}",
            "[a-fA-F]{1,4}(:[a-fA-F]{0,4}){2,7}",
            // cards in groups and phones with separators: the longest spans the quick
            // checks before the card and phone detectors have to allow for
            (proptest::collection::vec(0u8..10, 20), "[ -]").prop_map(|(body, sep)| {
                let card = luhn_complete("4", 16, &body);
                card.as_bytes().chunks(4).map(|g| String::from_utf8_lossy(g).into_owned())
                    .collect::<Vec<_>>().join(&sep)
            }),
            "\\+?[0-9]{1,3}[ .-]?\\(?[0-9]{2,4}\\)?[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}",
        ], 0..8),
    ) {
        let text = parts.concat();
        let (skipping, every) = super::detect::structural_both(&text);
        let key = |c: &super::Cand| (c.start, c.end, c.entity.clone());
        prop_assert_eq!(
            skipping.iter().map(key).collect::<Vec<_>>(),
            every.iter().map(key).collect::<Vec<_>>(),
            "{:?}", text
        );
    }

    #[test]
    fn arbitrary_text_is_safe(text in "\\PC{0,120}") {
        let out = r().redact(&text);
        for f in &out.findings {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        }
        let mut in_place = text.clone();
        let findings = r().redact_in_place(&mut in_place);
        prop_assert_eq!(&findings, &out.findings);
        prop_assert_eq!(&in_place, &out.text);
        if !out.applied() {
            prop_assert_eq!(out.text, text);
        }
    }

    #[test]
    fn timestamps_and_ids_are_kept(
        h in 0u8..24, m in 0u8..60, s in 0u8..60, ms in 0u16..1000,
        trace in "[0-9a-f]{32}", span in "[0-9a-f]{16}",
        uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        lat in 0u32..100000,
    ) {
        let text = format!(
            "2025-01-11T{h:02}:{m:02}:{s:02}.{ms:03}Z INFO at {h:02}:{m:02}:{s:02} trace_id={trace} span_id={span} id={uuid} latency_ms={lat}"
        );
        let out = r().redact(&text);
        prop_assert!(!out.applied(), "{:?} -> {:?}", text, out.findings);
    }
}

/// Regression (issue 17, defect 9): an address followed by `-2` was not redacted at all.
#[test]
fn an_address_followed_by_a_suffix_is_still_redacted() {
    let r = Redactor::new(RedactorConfig::default()).unwrap();
    for (input, want) in [
        ("user bob@example.com-2 retried", "user <EMAIL>-2 retried"),
        ("to bob@example.com.", "to <EMAIL>."),
        ("bob@mail.example.co-uk-7 x", "<EMAIL>-uk-7 x"),
        ("host@node-12 is not an address", "host@node-12 is not an address"),
    ] {
        assert_eq!(r.redact(input).text, want, "{input}");
    }
}

/// Regression (issue 17, defect 9): ids, service and environment were copied unredacted into
/// capsule samples and the store. PII there is redacted; ordinary ids pass unchanged.
#[test]
fn ids_service_and_environment_are_redacted_too() {
    let r = Redactor::new(RedactorConfig::default()).unwrap();
    let mut e = slo_dataflow::event::TelemetryEvent::log("bob@example.com", "svc-carol@example.com", 0, None, "ok");
    e.environment = "10.1.2.3".into();
    e.trace_id = Some("4111 1111 1111 1111".into());
    e.span_id = Some("00f067aa0ba902b7".into());
    let mut findings = Vec::new();
    let counts = super::operator::redact_event(&r, &mut e, &mut findings);
    assert_eq!(e.event_id, "<EMAIL>");
    assert_eq!(e.service, "<EMAIL>");
    assert_eq!(e.environment, "<IP>");
    assert!(!e.trace_id.as_deref().unwrap().contains("4111"), "{:?}", e.trace_id);
    assert_eq!(e.span_id.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(counts["EMAIL"], 2);
    let mut plain = slo_dataflow::event::TelemetryEvent::log("app.log:12", "checkout", 0, None, "ok");
    plain.trace_id = Some("1371c17149d439536b3216fdaeeb9757".into());
    let before = plain.clone();
    super::operator::redact_event(&r, &mut plain, &mut findings);
    assert_eq!(plain, before);
}

/// JSON-escapes some characters of `value` with `\uXXXX` (which ones: bits of `mask`).
fn json_escaped(value: &str, mask: u64) -> String {
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { format!("\\u{:04x}", c as u32) } else { c.to_string() })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Issue 17: any bytes into any reader give events or dead letters, never a panic, and no
    /// injected PII value survives into an event (after the redact operator's `redact_event`)
    /// or a dead letter as written (`DeadLetterRecord`), whether the value is written plainly
    /// or with JSON `\u` escapes, inside valid or broken records.
    #[test]
    fn no_reader_lets_pii_through(
        noise in proptest::collection::vec(any::<u8>(), 0..120),
        words in "[ -!#-\\[\\]-~]{0,40}",
        (value, t) in pii_value(),
        mask in any::<u64>(),
        shape in 0u8..6,
    ) {
        use slo_dataflow::source::{jsonl::JsonLinesReader, otlp::OtlpJsonReader, plain::PlainTextReader, SourceItem};
        prop_assume!(!matches!(t, EntityType::CreditCard | EntityType::Phone | EntityType::UsSsn));
        let shown = if shape % 2 == 0 { value.clone() } else { json_escaped(&value, mask) };
        let body = format!("{words} {shown} {words}");
        let input: Vec<u8> = match shape {
            0 | 1 => format!("{{\"service\":\"s\",\"timestamp_ms\":1000,\"body\":\"{body}\"}}\n").into_bytes(),
            2 | 3 => {
                let mut b = format!("{{\"service\":\"s\",\"timestamp_ms\":1000,\"body\":\"{body}\",").into_bytes();
                b.extend(&noise);
                b
            }
            _ => format!(
                "{{\"resourceLogs\":[{{\"scopeLogs\":[{{\"logRecords\":[{{\"timeUnixNano\":\"1000000000\",\"body\":{{\"stringValue\":\"{body}\"}},\"attributes\":[{{\"key\":\"k\",\"value\":{{\"stringValue\":\"{body}\"}}}}]}}]}}]}}]}}\n"
            )
            .into_bytes(),
        };
        let mut with_noise = noise.clone();
        with_noise.push(b'\n');
        with_noise.extend(&input);
        let cursor = || std::io::Cursor::new(with_noise.clone());
        let readers: Vec<Box<dyn Iterator<Item = SourceItem>>> = vec![
            Box::new(JsonLinesReader::new(cursor(), "fuzz")),
            Box::new(OtlpJsonReader::new(cursor(), "fuzz")),
            Box::new(PlainTextReader::new(cursor(), "fuzz", None, "s".into(), "prod".into())),
        ];
        let redactor = r();
        let mut findings = Vec::new();
        for reader in readers {
            for item in reader {
                let out = match item {
                    Ok(mut e) => {
                        super::operator::redact_event(&redactor, &mut e, &mut findings);
                        serde_json::to_string(&e).unwrap()
                    }
                    Err(dead) => {
                        let rec = crate::pipeline::DeadLetterRecord::from_dead_letter(dead, &redactor);
                        serde_json::to_string(&rec).unwrap()
                    }
                };
                prop_assert!(!out.contains(&value), "{:?} survived: {}", value, out);
            }
        }
    }
}

/// Issue 19: redaction is spread over the workers. Worker 0 alone reads the source (as the file
/// pipeline does); every worker redacts a share of the events, and none passes PII on.
#[test]
fn every_worker_redacts_a_share_of_one_readers_events() {
    use crate::metrics::PipelineMetrics;
    use crate::redact::Redact;
    use slo_dataflow::event::TelemetryEvent;
    use std::sync::{Arc, Mutex};
    use timely::dataflow::operators::vec::Input;
    use timely::dataflow::operators::Inspect;

    const WORKERS: usize = 3;
    let per_worker: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let seen = per_worker.clone();
    timely::execute(timely::Config::process(WORKERS), move |worker| {
        let index = worker.index();
        let counts = seen.clone();
        let mut input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, events) = scope.new_input::<TelemetryEvent>();
            events.redact(Redactor::with_defaults(), PipelineMetrics::new()).inspect(move |r| {
                assert!(!r.event.body.contains("@example.com"), "PII passed: {}", r.event.body);
                counts.lock().unwrap().push((index, r.redactions.values().sum::<u32>() as usize));
            });
            input
        });
        if index == 0 {
            for i in 0..300u64 {
                let body = format!("login ok for user{i}@example.com");
                input.send(TelemetryEvent::log(format!("e{i}"), "auth", 1_000 + i, None, body));
            }
        }
    })
    .unwrap();
    let got = per_worker.lock().unwrap();
    assert_eq!(got.len(), 300, "every event comes out once");
    for w in 0..WORKERS {
        let n = got.iter().filter(|(i, red)| *i == w && *red == 1).count();
        assert!(
            n >= 50,
            "worker {w} redacted only {n} of 300 events: {:?}",
            got.iter().map(|g| g.0).collect::<Vec<_>>()
        );
    }
}
