//! SecLang parser and engine that runs the OWASP Core Rule Set; no I/O.
