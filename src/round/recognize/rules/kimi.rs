//! kimi (`--output-format stream-json`, 2.1.0): `{"role":"meta",…}` records
//! on stdout, the final error on stderr as
//! `error: failed to run prompt: <kind>: <message>`.

use super::super::{Class, Hit, LineView, Signal};
use super::{first_of, QUOTA_WORDS};

const FATAL: &str = "error: failed to run prompt: ";

pub(super) fn line(l: &LineView<'_>) -> Hit {
    if l.json.is_some() {
        if l.str_field("role") == Some("assistant") {
            return Hit::progress();
        }
        // the 429 of a retry record is the JSON parser's (it reads the status)
        if l.str_field("type") == Some("turn.step.retrying")
            && l.str_field("error_name") == Some("APIConnectionError")
        {
            return Hit::signal(Signal::new(Class::Network, "APIConnectionError", l.text));
        }
        return Hit::default();
    }
    let Some(rest) = l.text.strip_prefix(FATAL) else {
        return Hit::default();
    };
    if rest.contains("No model configured") {
        return Hit::signal(Signal::new(Class::Auth, "No model configured", rest).needs(
            "login",
            "a model: kimi has none configured",
            "set KIMI_MODEL_NAME, KIMI_MODEL_API_KEY and KIMI_MODEL_BASE_URL, or run `kimi` and /login once",
        ));
    }
    if rest.starts_with("provider.auth_error") {
        return Hit::signal(Signal::new(Class::Auth, "provider.auth_error", rest));
    }
    if rest.starts_with("provider.connection_error") {
        return Hit::signal(Signal::new(
            Class::Network,
            "provider.connection_error",
            rest,
        ));
    }
    if let Some(q) = first_of(rest, QUOTA_WORDS)
        .or_else(|| rest.contains("is suspended").then_some("is suspended"))
    {
        return Hit::signal(Signal::new(Class::RateLimit, q, rest).quota());
    }
    if rest.starts_with("provider.rate_limit") {
        return Hit::signal(Signal::new(Class::RateLimit, "provider.rate_limit", rest));
    }
    Hit::default()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::hit;
    use super::*;

    #[test]
    fn fatal_kinds() {
        let k = |t: &str| {
            hit(line, "", &format!("{FATAL}{t}"))
                .signal
                .map(|s| (s.class, s.need, s.quota))
        };
        assert_eq!(
            k("No model configured. Run `kimi` and use /login to sign in"),
            Some((Class::Auth, Some("login"), false))
        );
        assert_eq!(
            k("provider.auth_error: 401 Invalid Authentication"),
            Some((Class::Auth, None, false))
        );
        assert_eq!(
            k("provider.connection_error: Connection error."),
            Some((Class::Network, None, false))
        );
        assert_eq!(
            k("provider.rate_limit: 429 Your account … max RPM"),
            Some((Class::RateLimit, None, false))
        );
        assert_eq!(k("provider.api_error: 429 Your account x is suspended, please check your plan and billing details"), Some((Class::RateLimit, None, true)));
        assert_eq!(k("something else"), None);
    }
}
