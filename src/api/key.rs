//! The API key as a type that cannot be printed.
//!
//! Owns reading a key from the environment variable `models.toml` names and turning it into a
//! header value marked sensitive (so reqwest and hyper redact it in their own `Debug` output).
//! It does not decide which header a provider wants; each provider file does.

use std::fmt;

use reqwest::header::HeaderValue;

/// What replaces a key wherever it would otherwise be shown.
const REDACTED: &str = "[redacted]";

/// A provider key. `Debug` and `Display` print `[redacted]`; the text leaves this type only as a
/// sensitive header value.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key in environment variable `var`, or `None` when it is unset or empty.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var).ok().filter(|v| !v.trim().is_empty()).map(|v| Self(v.trim().to_owned()))
    }

    /// A key from a literal, for unit tests of the provider files.
    #[cfg(test)]
    pub(super) fn for_tests(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// `prefix` followed by the key, as a header value hyper will not print.
    ///
    /// # Errors
    /// The key holds characters a header cannot carry (a stray newline, say); the message
    /// names neither the key nor its characters.
    pub fn header_value(&self, prefix: &str) -> Result<HeaderValue, String> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0))
            .map_err(|_| "the key holds characters an HTTP header cannot carry".to_owned())?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `text` with every occurrence of the key replaced by `[redacted]`: a last guard on
    /// messages that quote a server's words, in case a server echoes the key back.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, REDACTED)
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({REDACTED})")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let key = ApiKey("sk-secret-123".to_owned());
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        assert_eq!(key.to_string(), "[redacted]");
        let header = key.header_value("Bearer ").unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("sk-secret-123"));
    }

    #[test]
    fn scrub_replaces_an_echoed_key() {
        let key = ApiKey("sk-secret-123".to_owned());
        assert_eq!(key.scrub("bad key sk-secret-123!"), "bad key [redacted]!");
    }
}
