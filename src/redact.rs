//! Secret redaction (spec §15): masks secret-bearing tokens in free text
//! before it is persisted (`transient_error_detected.raw`,
//! `agent_auth_error_detected.raw`, hook errors, give-up `reason` tails).
//!
//! A port of upstream `_redact.py`: the same ten rules in the same order,
//! idempotent, best-effort, plus what upstream misses (docs/compat.md): a
//! private-key block with no END line is masked to the end of the text, one
//! with no BEGIN line (a tail cut inside the block) from the start of the
//! text, and OpenAI project/service-account/admin keys (`sk-proj-…`,
//! `sk-svcacct-…`, `sk-admin-…`) are key prefixes. The `regex` crate has no look-around, so the three
//! rules that need it (env assignments, `-u user:pass`, key prefixes) check
//! their boundaries by hand against the text being rewritten, exactly where
//! Python's look-behind/look-ahead would look. Pure: no I/O, never fails.

use regex::Regex;
use std::sync::LazyLock;

/// What every secret is replaced with.
pub const MASK: &str = "<redacted>";

/// Python's `\s` for `str` patterns also matches U+001C..U+001F, which Rust's
/// `\s` (Unicode `White_Space`) does not; these classes restore that.
const WS: &str = r"[\s\x1c-\x1f]";
const NON_WS: &str = r"[^\s\x1c-\x1f]";

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn is_py_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

const LONG_FLAGS: &[&str] = &[
    "--token",
    "--password",
    "--passwd",
    "--api-key",
    "--apikey",
    "--secret",
    "--secret-access-key",
    "--access-key",
    "--auth",
    "--authorization",
    "--client-secret",
    "--aws-session-token",
    "--bearer",
    "--auth-token",
    "--private-key",
];

const PREFIXES: &[&str] = &[
    r"sk-ant-[A-Za-z0-9\-_]{16,}",
    r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9\-_]{16,}",
    r"sk-[A-Za-z0-9]{16,}",
    r"ghp_[A-Za-z0-9]{20,}",
    r"gho_[A-Za-z0-9]{20,}",
    r"ghs_[A-Za-z0-9]{20,}",
    r"ghu_[A-Za-z0-9]{20,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"xox[bpars]-[A-Za-z0-9-]{10,}",
    r"xapp-[A-Za-z0-9-]{10,}",
    r"AKIA[0-9A-Z]{16}",
    r"ASIA[0-9A-Z]{16}",
    r"AIza[0-9A-Za-z_\-]{35}",
    r"glpat-[A-Za-z0-9_\-]{20}",
    r"ya29\.[A-Za-z0-9._\-]{20,}",
    r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
    r"npm_[A-Za-z0-9]{20,}",
    r"hf_[A-Za-z0-9]{20,}",
];

const BEGIN_KEY: &str = "-----BEGIN [A-Z ]*PRIVATE KEY-----";
const END_KEY: &str = "-----END [A-Z ]*PRIVATE KEY-----";

/// The compiled rules. The patterns are constants, so compiling them cannot
/// fail at run time; a typo is caught by every test in this module.
struct Rules {
    pem: Regex,
    pem_begin: Regex,
    pem_end: Regex,
    env: Regex,
    flag: Regex,
    header: Regex,
    scheme: Regex,
    url_userinfo: Regex,
    url_query: Regex,
    jwt: Regex,
    prefix: Regex,
}

fn compile(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

fn build() -> Option<Rules> {
    let flags = LONG_FLAGS
        .iter()
        .map(|f| regex::escape(f))
        .collect::<Vec<_>>()
        .join("|");
    Some(Rules {
        // Upstream's rule 1, and a block with no END runs to the end of the text.
        pem: compile(&format!(r"(?s){BEGIN_KEY}.*?(?:{END_KEY}|\z)"))?,
        pem_begin: compile(BEGIN_KEY)?,
        pem_end: compile(END_KEY)?,
        // Rule 2 without its `(?:(?<=\s)|^)` look-behind (checked by hand).
        env: compile(&format!(
            r"(?i)([A-Za-z_][A-Za-z0-9_]*(?:PASSWORD|PASSWD|PWD|TOKEN|SECRET|API[_-]?KEY|ACCESS[_-]?KEY|CREDENTIAL|PRIVATE[_-]?KEY)[A-Za-z0-9_]*)=({NON_WS}+)"
        ))?,
        flag: compile(&format!(r"(?i)({flags})({WS}+|=)({NON_WS}+)"))?,
        header: compile(&format!(
            r"(?im)\b(Authorization|Proxy-Authorization|Cookie|Set-Cookie|X-Api-Key|X-Auth-Token|X-Amz-Security-Token)({WS}*:{WS}*)([^\r\n]+)"
        ))?,
        scheme: compile(&format!(
            r"\b(Bearer|Basic|Token|ApiKey|Digest|Negotiate|NTLM)({WS}+)([A-Za-z0-9+/=._\-]{{12,}})"
        ))?,
        url_userinfo: compile(r"(?i)([a-z][a-z0-9+.\-]*://)([^/\s\x1c-\x1f@]+)@")?,
        url_query: compile(
            r"(?i)([?&#](?:access_token|api_?key|token|auth|secret|sig|signature|password|client_secret|x-amz-security-token|x-amz-signature)=)([^&#\s\x1c-\x1f]+)",
        )?,
        jwt: compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")?,
        // Rule 10 without its `(?<![A-Za-z0-9])` look-behind (checked by hand).
        prefix: compile(&format!("(?:{})", PREFIXES.join("|")))?,
    })
}

static RULES: LazyLock<Option<Rules>> = LazyLock::new(build);

/// `re.sub` for a rule whose match is only valid when `ok_before(prev_char)`
/// holds for the character before the match (`None` at the start of text).
/// Mirrors Python's scan: a rejected start is retried one character later.
fn sub_with_lookbehind(
    text: &str,
    re: &Regex,
    ok_before: impl Fn(Option<char>) -> bool,
    replace: impl Fn(&regex::Captures<'_>) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // bytes of `text` already in `out`
    let mut at = 0; // where the next search starts
    while at <= text.len() {
        let Some(caps) = re.captures_at(text, at) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        if ok_before(text[..m.start()].chars().next_back()) {
            out.push_str(&text[copied..m.start()]);
            out.push_str(&replace(&caps));
            copied = m.end();
            at = m.end();
        } else {
            // Not a valid start: retry from the next character.
            at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn group<'t>(caps: &regex::Captures<'t>, i: usize) -> &'t str {
    caps.get(i).map_or("", |m| m.as_str())
}

/// A private-key block whose BEGIN line is not in the text (a log tail that
/// starts inside the block): everything up to the last END line before any
/// BEGIN line is masked.
fn sub_key_tail(r: &Rules, text: &str) -> String {
    let first_begin = r.pem_begin.find(text).map_or(text.len(), |m| m.start());
    match r.pem_end.find_iter(&text[..first_begin]).last() {
        Some(m) => format!("{MASK}{}", &text[m.end()..]),
        None => text.to_string(),
    }
}

/// Rule 4: `(?<![\w-])-u(\s+|=)(?!\S*://)(\S+:\S+)` by hand.
fn sub_short_user(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(rel) = text[search..].find("-u") {
        let start = search + rel;
        search = start + 1;
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| is_py_word(c) || c == '-') {
            continue;
        }
        let rest = &text[start + 2..];
        // Separator: a run of whitespace, or a single '='.
        let sep_len = if rest.starts_with('=') {
            1
        } else {
            rest.char_indices()
                .find(|&(_, c)| !is_py_space(c))
                .map_or(rest.len(), |(i, _)| i)
        };
        if sep_len == 0 {
            continue;
        }
        let value_start = start + 2 + sep_len;
        let value_run = &text[value_start..];
        let value_len = value_run
            .char_indices()
            .find(|&(_, c)| is_py_space(c))
            .map_or(value_run.len(), |(i, _)| i);
        let value = &value_run[..value_len];
        if value.contains("://") {
            continue;
        }
        // `\S+:\S+`: some ':' with at least one character on each side.
        let has_inner_colon = value
            .char_indices()
            .any(|(i, c)| c == ':' && i > 0 && i + 1 < value.len());
        if !has_inner_colon {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str("-u");
        out.push_str(&text[start + 2..value_start]);
        out.push_str(MASK);
        copied = value_start + value_len;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// Return `text` with secret-bearing tokens replaced by [`MASK`].
///
/// One pass of the ten rules is upstream's `redact_secrets`, except where we
/// mask more (the module doc: key blocks missing a BEGIN or END line, newer
/// OpenAI keys; the reference vectors mark those cases). Upstream
/// is not idempotent on a few contrived inputs (a later rule's output can
/// form an earlier rule's input, e.g. `-u Authorization:x` becomes
/// `-u Authorization:<redacted>`, which rule 4 then masks), so the pass is
/// repeated until the text stops changing: output equals upstream whenever
/// upstream is idempotent, and `redact(redact(x)) == redact(x)` always.
pub fn redact(text: &str) -> String {
    let Some(r) = RULES.as_ref() else {
        return text.to_string();
    };
    let mut cur = one_pass(r, text);
    // Each extra pass only ever replaces text with the mask; a handful of
    // passes reaches the fixed point on anything seen in practice.
    for _ in 0..8 {
        let next = one_pass(r, &cur);
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

/// One application of the ten rules, in upstream order (the cut key block
/// first, next to rule 1).
fn one_pass(r: &Rules, text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let out = sub_key_tail(r, text);
    let out = r.pem.replace_all(&out, MASK);
    let out = sub_with_lookbehind(
        &out,
        &r.env,
        |prev| prev.map_or(true, is_py_space),
        |c| format!("{}={MASK}", group(c, 1)),
    );
    let out = r.flag.replace_all(&out, |c: &regex::Captures<'_>| {
        format!("{}{}{MASK}", group(c, 1), group(c, 2))
    });
    let out = sub_short_user(&out);
    let out = r.header.replace_all(&out, |c: &regex::Captures<'_>| {
        format!("{}{}{MASK}", group(c, 1), group(c, 2))
    });
    let out = r.scheme.replace_all(&out, |c: &regex::Captures<'_>| {
        format!("{}{}{MASK}", group(c, 1), group(c, 2))
    });
    let out = r.url_userinfo.replace_all(&out, |c: &regex::Captures<'_>| {
        format!("{}{MASK}@", group(c, 1))
    });
    let out = r.url_query.replace_all(&out, |c: &regex::Captures<'_>| {
        format!("{}{MASK}", group(c, 1))
    });
    let out = r.jwt.replace_all(&out, MASK);
    sub_with_lookbehind(
        &out,
        &r.prefix,
        |prev| !prev.is_some_and(|c| c.is_ascii_alphanumeric()),
        |_| MASK.to_string(),
    )
}

/// Redact, then keep the first `max_chars` characters. Redacting first means a
/// secret cut in half by the truncation can never slip through unmasked.
pub fn redact_truncate(text: &str, max_chars: usize) -> String {
    let red = redact(text);
    match red.char_indices().nth(max_chars) {
        Some((i, _)) => red[..i].to_string(),
        None => red,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_compile() {
        assert!(RULES.is_some(), "a redaction pattern failed to compile");
    }

    #[test]
    fn rule1_pem_block_across_lines() {
        let t =
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY-----\ntail";
        assert_eq!(redact(t), "key:\n<redacted>\ntail");
        // non-greedy: two blocks stay two masks
        let two = "-----BEGIN PRIVATE KEY-----a-----END PRIVATE KEY----- mid -----BEGIN EC PRIVATE KEY-----b-----END EC PRIVATE KEY-----";
        assert_eq!(redact(two), "<redacted> mid <redacted>");
        // public keys are not private keys
        let public = "-----BEGIN PUBLIC KEY-----x-----END PUBLIC KEY-----";
        assert_eq!(redact(public), public);
    }

    #[test]
    fn rule2_env_assignments_and_quirks() {
        assert_eq!(redact("GH_TOKEN=abc123"), "GH_TOKEN=<redacted>");
        assert_eq!(
            redact("run MY_API-KEY=x now"),
            "run MY_API-KEY=<redacted> now"
        );
        assert_eq!(redact("OLDPWD=/home/me"), "OLDPWD=<redacted>");
        assert_eq!(redact("x db_password=hunter2"), "x db_password=<redacted>");
        // bare keyword: nothing precedes it, so not masked (upstream quirk)
        assert_eq!(redact("TOKEN=x"), "TOKEN=x");
        assert_eq!(redact("PASSWORD=x"), "PASSWORD=x");
        // must start the text or follow whitespace
        assert_eq!(redact("a,MY_TOKEN=x"), "a,MY_TOKEN=x");
        assert_eq!(redact("a\tMY_SECRET=v w"), "a\tMY_SECRET=<redacted> w");
    }

    #[test]
    fn rule3_long_flags() {
        assert_eq!(redact("cli --token abc"), "cli --token <redacted>");
        assert_eq!(redact("cli --API-KEY=abc"), "cli --API-KEY=<redacted>");
        assert_eq!(
            redact("aws --secret-access-key  K9 --region x"),
            "aws --secret-access-key  <redacted> --region x"
        );
        assert_eq!(redact("--authorization v"), "--authorization <redacted>");
        assert_eq!(redact("--tokens abc"), "--tokens abc");
    }

    #[test]
    fn rule4_short_user() {
        assert_eq!(
            redact("curl -u bob:pw http://x"),
            "curl -u <redacted> http://x"
        );
        assert_eq!(redact("curl -u=bob:pw"), "curl -u=<redacted>");
        assert_eq!(redact("sort -u file"), "sort -u file");
        assert_eq!(redact("curl -u bob"), "curl -u bob");
        assert_eq!(redact("psql -U bob:pw"), "psql -U bob:pw");
        assert_eq!(redact("x--u bob:pw"), "x--u bob:pw");
        assert_eq!(redact("a-u bob:pw"), "a-u bob:pw");
        // a URL value is left for the userinfo rule, which keeps the host
        assert_eq!(
            redact("redis-cli -u redis://u:p@cache:6379/0"),
            "redis-cli -u redis://<redacted>@cache:6379/0"
        );
        assert_eq!(redact("-u :x"), "-u :x");
    }

    #[test]
    fn rule5_headers_and_observed_overloaded() {
        assert_eq!(
            redact("Overloaded Authorization: Bearer sk-abc"),
            "Overloaded Authorization: <redacted>"
        );
        assert_eq!(
            redact("cookie: a=b; c=d\nnext line"),
            "cookie: <redacted>\nnext line"
        );
        assert_eq!(redact("X-Api-Key:k"), "X-Api-Key:<redacted>");
    }

    #[test]
    fn rule6_auth_schemes() {
        assert_eq!(
            redact("got Bearer abcdefghijkl123 back"),
            "got Bearer <redacted> back"
        );
        assert_eq!(redact("Basic auth disabled"), "Basic auth disabled");
        assert_eq!(redact("bearer abcdefghijkl123"), "bearer abcdefghijkl123");
    }

    #[test]
    fn rule7_url_userinfo() {
        assert_eq!(
            redact("clone https://me:pw@github.com/x"),
            "clone https://<redacted>@github.com/x"
        );
        assert_eq!(redact("https://github.com/x"), "https://github.com/x");
    }

    #[test]
    fn rule8_url_query() {
        assert_eq!(
            redact("GET /a?x=1&access_token=zz&sig=q#token=t"),
            "GET /a?x=1&access_token=<redacted>&sig=<redacted>#token=<redacted>"
        );
        assert_eq!(redact("?Signature=abc"), "?Signature=<redacted>");
    }

    #[test]
    fn rule9_jwt() {
        assert_eq!(
            redact("t=eyJhbGciOi.eyJzdWIiOiIx.sig-_part rest"),
            "t=<redacted> rest"
        );
    }

    #[test]
    fn rule10_prefixes() {
        assert_eq!(
            redact("key sk-ant-api03-abcdefghijklmnop end"),
            "key <redacted> end"
        );
        assert_eq!(redact("sk-report.md"), "sk-report.md");
        assert_eq!(redact("AKIAABCDEFGHIJKLMNOP"), "<redacted>");
        assert_eq!(redact("xAKIAABCDEFGHIJKLMNOP"), "xAKIAABCDEFGHIJKLMNOP");
        assert_eq!(redact("(ghp_abcdefghijklmnopqrstuv)"), "(<redacted>)");
        assert_eq!(redact("hf_short"), "hf_short");
        assert_eq!(redact("_sk_live_abcdefghijklmnop1"), "_<redacted>");
    }

    #[test]
    fn order_env_before_prefix() {
        // rule 2 masks the whole value first; rule 10 finds nothing left
        assert_eq!(
            redact("export OPENAI_API_KEY=sk-abcdefghijklmnopqrstu"),
            "export OPENAI_API_KEY=<redacted>"
        );
    }

    #[test]
    fn newer_key_formats() {
        // OpenAI project and service-account keys carry '-' and '_' after
        // their prefix, which the plain `sk-` rule stops at.
        assert_eq!(
            redact("key sk-proj-AbCd_Ef-GhIjKlMnOpQrStUvWx0123 end"),
            "key <redacted> end"
        );
        assert_eq!(
            redact("OPENAI sk-svcacct-AbCdEfGhIjKlMnOpQrSt_uv-wx end"),
            "OPENAI <redacted> end"
        );
        assert_eq!(redact("sk-admin-AbCdEfGhIjKlMnOpQrStUv"), "<redacted>");
        assert_eq!(redact("sk-proj-short"), "sk-proj-short");
        // GitHub fine-grained tokens: github_pat_<22>_<59>
        assert_eq!(
            redact("push github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef ok"),
            "push <redacted> ok"
        );
    }

    #[test]
    fn a_private_key_block_without_its_end_is_redacted_to_the_end() {
        let t = "log\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAABG5vbmUA";
        assert_eq!(redact(t), "log\n<redacted>");
        // a complete block still ends at its END line
        let t = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nafter";
        assert_eq!(redact(t), "<redacted>\nafter");
    }

    #[test]
    fn a_private_key_block_without_its_begin_is_redacted_from_the_start() {
        // a tail cut inside a key: the body up to END is masked
        let t = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\ndone";
        assert_eq!(redact(t), "<redacted>\ndone");
        // an END after a complete block is not an orphan
        let t = "a -----BEGIN PRIVATE KEY-----x-----END PRIVATE KEY----- b";
        assert_eq!(redact(t), "a <redacted> b");
    }

    fn vectors() -> Vec<(String, String)> {
        // Produced by upstream `agent_runner._redact.redact_secrets` (0.3.14)
        // with tests/data/gen_redact_vectors.py; an entry with a third
        // element is where we mask more than upstream, the element says why
        // (the generator keeps those entries as they are).
        let raw = include_str!("../tests/data/redact_vectors.json");
        let v: Vec<Vec<String>> =
            serde_json::from_str(raw).unwrap_or_else(|e| panic!("bad vectors: {e}"));
        v.into_iter()
            .map(|e| match &e[..] {
                [i, o] | [i, o, _] => (i.clone(), o.clone()),
                _ => panic!("bad vector {e:?}"),
            })
            .collect()
    }

    #[test]
    fn matches_python_reference_vectors() {
        let v = vectors();
        assert!(v.len() >= 50, "vector file truncated");
        for (input, want) in v {
            assert_eq!(redact(&input), want, "input {input:?}");
        }
    }

    #[test]
    fn idempotent_on_every_vector() {
        for (input, _) in vectors() {
            let once = redact(&input);
            assert_eq!(redact(&once), once, "not idempotent on {input:?}");
        }
    }

    #[test]
    fn fixed_point_where_one_upstream_pass_is_not_idempotent() {
        // One upstream pass gives `-u Authorization:<redacted>`; a second pass
        // (rule 4) would change it again, so we keep going.
        let t = "-u Authorization:=?token=https://";
        assert_eq!(redact(t), "-u <redacted>");
    }

    #[test]
    fn redact_then_truncate() {
        // A secret straddling the cut is masked before the cut happens.
        let t = "pre ghp_abcdefghijklmnopqrstuvwxyz post";
        assert_eq!(redact_truncate(t, 8), "pre <red");
        assert_eq!(redact_truncate(t, 1000), "pre <redacted> post");
        assert_eq!(redact_truncate("héllo", 2), "hé");
    }
}
