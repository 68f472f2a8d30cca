//! aider (0.86.2): plain text on stdout, wrapped at 80 columns (a message
//! can straddle two lines: the rules look at a line joined to the one before
//! it). Its retries double their delay with no end we know of.

use super::super::{Class, EndRule, Hit, LineView, Signal};

pub(super) fn line(l: &LineView<'_>) -> Hit {
    if l.text_has("Please open this URL in your browser to connect Aider with OpenRouter")
        || (l.text.starts_with("Waiting up to ") && l.text_has("finish in the browser"))
    {
        return Hit::signal(Signal::new(Class::NeedsInput, "open this URL in your browser", l.text).needs(
            "browser_sign_in",
            "a browser sign-in (OpenRouter): aider found no API key",
            "set a provider key for aider (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENROUTER_API_KEY, ...) in agent-runner's environment",
        ));
    }
    if l.text.starts_with("Tokens: ") && l.text_has(" sent, ") {
        return Hit::progress();
    }
    if l.joined_has("litellm.AuthenticationError")
        || l.text_has("The API provider is not able to authenticate you")
    {
        return Hit::signal(Signal::new(
            Class::Auth,
            "litellm.AuthenticationError",
            l.text,
        ));
    }
    // insufficient_quota: aider retries it like a rate limit, for ever
    if l.joined_has("exceeded your current quota") {
        return Hit::signal(
            Signal::new(Class::RateLimit, "exceeded your current quota", l.text)
                .quota()
                .end(EndRule::Now),
        );
    }
    if l.text.starts_with("litellm.RateLimitError") {
        return Hit::signal(
            Signal::new(Class::RateLimit, "litellm.RateLimitError", l.text)
                .end(EndRule::Persisting),
        );
    }
    if l.joined_has("Exception - Connection error")
        || l.text.starts_with("litellm.APIConnectionError")
    {
        return Hit::signal(
            Signal::new(Class::Network, "Connection error", l.text).end(EndRule::Persisting),
        );
    }
    Hit::default()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::hit;
    use super::*;

    #[test]
    fn wrapped_messages_are_joined() {
        let s = hit(
            line,
            "litellm.InternalServerError: InternalServerError: OpenAIException - Connection ",
            "error.",
        )
        .signal;
        assert_eq!(
            s.map(|s| (s.class, s.end)),
            Some((Class::Network, EndRule::Persisting))
        );
        let s = hit(
            line,
            "litellm.RateLimitError: RateLimitError: OpenAIException - You exceeded your ",
            "current quota, please check your plan and billing details. For more information ",
        )
        .signal;
        assert_eq!(
            s.map(|s| (s.class, s.quota, s.end)),
            Some((Class::RateLimit, true, EndRule::Now))
        );
    }

    #[test]
    fn sign_in_wait_and_progress_and_noise() {
        let s = hit(
            line,
            "",
            "Waiting up to 5 minutes for you to finish in the browser...",
        )
        .signal;
        assert_eq!(s.and_then(|s| s.need), Some("browser_sign_in"));
        assert!(
            hit(
                line,
                "",
                "Tokens: 12 sent, 1 received. Cost: $0.000040 message, $0.000040 session."
            )
            .progress
        );
        // this machine's noise (litellm's price list, PyPI) is not the provider
        let noise = "HTTPSConnectionPool(host='raw.githubusercontent.com', port=443): Max retries exceeded with url: /x (Caused by NameResolutionError(\"…Failed to resolve\"))";
        assert_eq!(hit(line, "", noise), Hit::default());
    }
}
