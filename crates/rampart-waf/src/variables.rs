//! The variables (ModSecurity "collections") rules can inspect.
//!
//! A variable is either a collection of `key: value` items (ARGS, REQUEST_HEADERS,
//! TX, ...) that selectors narrow down, or a single value (REQUEST_URI, ...).
//! Names are matched case-insensitively, as in ModSecurity.

/// A variable a rule target can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // Each variant is the ModSecurity variable of the same name.
pub enum Var {
    Args,
    ArgsGet,
    ArgsPost,
    ArgsNames,
    ArgsGetNames,
    ArgsPostNames,
    ArgsCombinedSize,
    RequestHeaders,
    RequestHeadersNames,
    RequestCookies,
    RequestCookiesNames,
    RequestUri,
    RequestUriRaw,
    RequestFilename,
    RequestBasename,
    RequestLine,
    RequestMethod,
    RequestProtocol,
    QueryString,
    RequestBody,
    RequestBodyLength,
    ReqbodyProcessor,
    ReqbodyError,
    ReqbodyErrorMsg,
    InboundDataError,
    Files,
    FilesNames,
    FilesSizes,
    FilesCombinedSize,
    MultipartPartHeaders,
    MultipartFilename,
    MultipartName,
    MultipartStrictError,
    MultipartUnmatchedBoundary,
    MultipartBoundaryQuoted,
    MultipartBoundaryWhitespace,
    MultipartDataBefore,
    MultipartDataAfter,
    MultipartHeaderFolding,
    MultipartLfLine,
    MultipartCrlfLfLines,
    MultipartMissingSemicolon,
    MultipartInvalidQuoting,
    MultipartInvalidPart,
    MultipartInvalidHeaderFolding,
    MultipartFileLimitExceeded,
    Xml,
    Tx,
    Ip,
    Global,
    Session,
    User,
    Env,
    MatchedVar,
    MatchedVarName,
    MatchedVars,
    MatchedVarsNames,
    RemoteAddr,
    RemotePort,
    ServerName,
    UniqueId,
    Duration,
    Geo,
    ResponseBody,
    ResponseHeaders,
    ResponseHeadersNames,
    ResponseStatus,
    ResponseProtocol,
    ResponseContentType,
    ResponseContentLength,
    AuthType,
    FullRequest,
    FullRequestLength,
}

/// Variable names and their [`Var`], upper-case.
const NAMES: &[(&str, Var)] = &[
    ("ARGS", Var::Args),
    ("ARGS_GET", Var::ArgsGet),
    ("ARGS_POST", Var::ArgsPost),
    ("ARGS_NAMES", Var::ArgsNames),
    ("ARGS_GET_NAMES", Var::ArgsGetNames),
    ("ARGS_POST_NAMES", Var::ArgsPostNames),
    ("ARGS_COMBINED_SIZE", Var::ArgsCombinedSize),
    ("REQUEST_HEADERS", Var::RequestHeaders),
    ("REQUEST_HEADERS_NAMES", Var::RequestHeadersNames),
    ("REQUEST_COOKIES", Var::RequestCookies),
    ("REQUEST_COOKIES_NAMES", Var::RequestCookiesNames),
    ("REQUEST_URI", Var::RequestUri),
    ("REQUEST_URI_RAW", Var::RequestUriRaw),
    ("REQUEST_FILENAME", Var::RequestFilename),
    ("REQUEST_BASENAME", Var::RequestBasename),
    ("REQUEST_LINE", Var::RequestLine),
    ("REQUEST_METHOD", Var::RequestMethod),
    ("REQUEST_PROTOCOL", Var::RequestProtocol),
    ("QUERY_STRING", Var::QueryString),
    ("REQUEST_BODY", Var::RequestBody),
    ("REQUEST_BODY_LENGTH", Var::RequestBodyLength),
    ("REQBODY_PROCESSOR", Var::ReqbodyProcessor),
    ("REQBODY_ERROR", Var::ReqbodyError),
    ("REQBODY_PROCESSOR_ERROR", Var::ReqbodyError),
    ("REQBODY_ERROR_MSG", Var::ReqbodyErrorMsg),
    ("REQBODY_PROCESSOR_ERROR_MSG", Var::ReqbodyErrorMsg),
    ("INBOUND_DATA_ERROR", Var::InboundDataError),
    ("FILES", Var::Files),
    ("FILES_NAMES", Var::FilesNames),
    ("FILES_SIZES", Var::FilesSizes),
    ("FILES_COMBINED_SIZE", Var::FilesCombinedSize),
    ("MULTIPART_PART_HEADERS", Var::MultipartPartHeaders),
    ("MULTIPART_FILENAME", Var::MultipartFilename),
    ("MULTIPART_NAME", Var::MultipartName),
    ("MULTIPART_STRICT_ERROR", Var::MultipartStrictError),
    (
        "MULTIPART_UNMATCHED_BOUNDARY",
        Var::MultipartUnmatchedBoundary,
    ),
    ("MULTIPART_BOUNDARY_QUOTED", Var::MultipartBoundaryQuoted),
    (
        "MULTIPART_BOUNDARY_WHITESPACE",
        Var::MultipartBoundaryWhitespace,
    ),
    ("MULTIPART_DATA_BEFORE", Var::MultipartDataBefore),
    ("MULTIPART_DATA_AFTER", Var::MultipartDataAfter),
    ("MULTIPART_HEADER_FOLDING", Var::MultipartHeaderFolding),
    ("MULTIPART_LF_LINE", Var::MultipartLfLine),
    ("MULTIPART_CRLF_LF_LINES", Var::MultipartCrlfLfLines),
    (
        "MULTIPART_MISSING_SEMICOLON",
        Var::MultipartMissingSemicolon,
    ),
    ("MULTIPART_INVALID_QUOTING", Var::MultipartInvalidQuoting),
    ("MULTIPART_INVALID_PART", Var::MultipartInvalidPart),
    (
        "MULTIPART_INVALID_HEADER_FOLDING",
        Var::MultipartInvalidHeaderFolding,
    ),
    (
        "MULTIPART_FILE_LIMIT_EXCEEDED",
        Var::MultipartFileLimitExceeded,
    ),
    ("XML", Var::Xml),
    ("TX", Var::Tx),
    ("IP", Var::Ip),
    ("GLOBAL", Var::Global),
    ("SESSION", Var::Session),
    ("USER", Var::User),
    ("ENV", Var::Env),
    ("MATCHED_VAR", Var::MatchedVar),
    ("MATCHED_VAR_NAME", Var::MatchedVarName),
    ("MATCHED_VARS", Var::MatchedVars),
    ("MATCHED_VARS_NAMES", Var::MatchedVarsNames),
    ("REMOTE_ADDR", Var::RemoteAddr),
    ("REMOTE_PORT", Var::RemotePort),
    ("SERVER_NAME", Var::ServerName),
    ("UNIQUE_ID", Var::UniqueId),
    ("DURATION", Var::Duration),
    ("GEO", Var::Geo),
    ("RESPONSE_BODY", Var::ResponseBody),
    ("RESPONSE_HEADERS", Var::ResponseHeaders),
    ("RESPONSE_HEADERS_NAMES", Var::ResponseHeadersNames),
    ("RESPONSE_STATUS", Var::ResponseStatus),
    ("RESPONSE_PROTOCOL", Var::ResponseProtocol),
    ("RESPONSE_CONTENT_TYPE", Var::ResponseContentType),
    ("RESPONSE_CONTENT_LENGTH", Var::ResponseContentLength),
    ("AUTH_TYPE", Var::AuthType),
    ("FULL_REQUEST", Var::FullRequest),
    ("FULL_REQUEST_LENGTH", Var::FullRequestLength),
];

/// Variants covered by [`BY_VAR`] (the others use the slow path of [`Var::name`]).
const BY_VAR_LEN: usize = Var::FullRequestLength as usize + 1;

/// [`Var::name`] by discriminant: the first name listed for each variant.
static BY_VAR: [&str; BY_VAR_LEN] = {
    let mut table = [""; BY_VAR_LEN];
    let mut i = NAMES.len();
    while i > 0 {
        i -= 1;
        let (name, var) = NAMES[i];
        if (var as usize) < BY_VAR_LEN {
            table[var as usize] = name;
        }
    }
    table
};

impl Var {
    /// Looks a variable up by its (case-insensitive) name.
    pub fn from_name(name: &str) -> Option<Var> {
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The canonical upper-case name.
    pub fn name(self) -> &'static str {
        // Hot (every match names its variable): a table by discriminant.
        match BY_VAR.get(self as usize) {
            Some(n) if !n.is_empty() => n,
            _ => NAMES
                .iter()
                .find(|(_, v)| *v == self)
                .map_or("UNKNOWN", |(n, _)| n),
        }
    }

    /// Whether the variable is a collection whose items have keys that
    /// selectors (`ARGS:id`, `TX:/^a/`) can pick.
    pub fn is_collection(self) -> bool {
        matches!(
            self,
            Var::Args
                | Var::ArgsGet
                | Var::ArgsPost
                | Var::ArgsNames
                | Var::ArgsGetNames
                | Var::ArgsPostNames
                | Var::RequestHeaders
                | Var::RequestHeadersNames
                | Var::RequestCookies
                | Var::RequestCookiesNames
                | Var::Files
                | Var::FilesNames
                | Var::FilesSizes
                | Var::MultipartPartHeaders
                | Var::MultipartFilename
                | Var::MultipartName
                | Var::Xml
                | Var::Tx
                | Var::Ip
                | Var::Global
                | Var::Session
                | Var::User
                | Var::Env
                | Var::MatchedVars
                | Var::MatchedVarsNames
                | Var::Geo
                | Var::ResponseHeaders
                | Var::ResponseHeadersNames
        )
    }

    /// Whether the variable is a persistent-style collection written by `setvar`.
    pub fn is_writable_collection(self) -> bool {
        matches!(
            self,
            Var::Tx | Var::Ip | Var::Global | Var::Session | Var::User
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        assert_eq!(Var::from_name("request_headers"), Some(Var::RequestHeaders));
        assert_eq!(Var::RequestHeaders.name(), "REQUEST_HEADERS");
        assert_eq!(Var::from_name("NOPE"), None);
        for (name, var) in NAMES {
            assert_eq!(Var::from_name(var.name()), Some(*var), "{name}");
        }
        assert_eq!(Var::ReqbodyError.name(), "REQBODY_ERROR");
    }
}
