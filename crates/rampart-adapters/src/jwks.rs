//! [`HttpJwksSourceFactory`]: the `rampart_authn` JWKS fetcher over HTTPS, and
//! the keeper of the JWKS caches across reloads.
//!
//! The engine's `JwksCache` decides *when* to fetch (refresh interval, rate limit
//! on unknown-`kid` refetches, backoff, last good keys kept on failure, one fetch
//! at a time); this adapter performs one bounded GET per call, on a task of its
//! own so that a request that triggered it and is then cancelled does not abort
//! it, and reports why it failed.
//!
//! The factory lives as long as the process (in the `Adapters`): a reload
//! gets the caches its running configuration has (same URL and timings), held
//! weakly as the rate-limit counter stores are, with their keys; each cache
//! gets one background [`JwksRefresher`] for its lifetime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use rampart_authn::BoxFuture;
use rampart_authn::clock::Clock;
use rampart_authn::jwt::config::JwksSourceFactory;
use rampart_authn::jwt::{JwksCache, JwksCachePolicy, JwksFetchError, JwksSource};
use tokio::task::JoinHandle;

use crate::http::{HttpClient, HttpError, get, parse_url};

/// Largest JWKS document accepted (a few dozen keys fit comfortably).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How often a cache's background refresher looks at it (it refreshes only
/// past its issuer's `jwks_refresh_seconds`, or while it has no keys, within
/// its refetch limit and backoff).
pub const REFRESH_TICK: Duration = Duration::from_secs(1);

/// The caches by JWKS URL and timings.
type Caches = HashMap<(String, JwksCachePolicy), Weak<JwksCache>>;

/// Gives a [`JwksSource`] per URL, all sharing one connection pool, and keeps
/// the caches over them across reloads.
#[derive(Debug, Clone)]
pub struct HttpJwksSourceFactory {
    client: HttpClient,
    caches: Arc<Mutex<Caches>>,
}

impl HttpJwksSourceFactory {
    /// A factory over `client`.
    pub fn new(client: HttpClient) -> Self {
        Self {
            client,
            caches: Arc::default(),
        }
    }
}

impl JwksSourceFactory for HttpJwksSourceFactory {
    fn source(&self, url: &str) -> Arc<dyn JwksSource> {
        // The trait cannot fail here; a refused URL yields a source that always
        // fails (the issuer then has no keys: fail closed), and says why in the log.
        let url = parse_url(url);
        if let Err(error) = &url {
            tracing::error!(%error, "JWKS URL refused; tokens of this issuer cannot verify");
        }
        Arc::new(HttpJwksSource {
            client: self.client.clone(),
            url,
        })
    }

    /// The running configuration's cache of `url` under `policy` when there
    /// is one; else a new cache, with the keys of a live cache of the same URL
    /// (the issuer's timings changed) and its own background refresher.
    fn cache(&self, url: &str, policy: JwksCachePolicy, clock: &Arc<dyn Clock>) -> Arc<JwksCache> {
        let key = (url.to_string(), policy);
        // Config time only (start-up and reloads), never on a request.
        let mut caches = self
            .caches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cache) = caches.get(&key).and_then(Weak::upgrade) {
            return cache;
        }
        // Caches no configuration uses any more.
        caches.retain(|_, cache| cache.strong_count() > 0);
        let cache = Arc::new(JwksCache::new(self.source(url), Arc::clone(clock), policy));
        if let Some(previous) = caches
            .iter()
            .filter(|((other, _), _)| other == url)
            .find_map(|(_, cache)| cache.upgrade())
        {
            cache.adopt_keys(&previous);
        }
        caches.insert(key, Arc::downgrade(&cache));
        match JwksRefresher::spawn(vec![Arc::clone(&cache)], REFRESH_TICK) {
            Ok(refresher) => refresher.detach(),
            // Outside a runtime (`rampart check`, some tests): lookups still fetch.
            Err(error) => tracing::debug!(%error, "JWKS refresher not started"),
        }
        cache
    }
}

/// Fetches one JWKS URL.
#[derive(Debug)]
pub struct HttpJwksSource {
    client: HttpClient,
    url: Result<Uri, HttpError>,
}

async fn fetch_bytes(client: HttpClient, url: Result<Uri, HttpError>) -> Result<Bytes, HttpError> {
    let url = url?;
    client
        .call(
            get(&url, "application/jwk-set+json, application/json"),
            Bytes::new(),
            MAX_JWKS_BYTES,
        )
        .await
}

impl JwksSource for HttpJwksSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<u8>, JwksFetchError>> {
        let get = fetch_bytes(self.client.clone(), self.url.clone());
        let get = async move {
            get.await
                .map(|body| body.to_vec())
                .map_err(|error| JwksFetchError(error.to_string()))
        };
        Box::pin(async move {
            // On a task of its own: dropping this future (the request that
            // needed the keys was cancelled) leaves the GET running, and the
            // cache hands its result to the next caller. Within its deadline.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => runtime.spawn(get).await.unwrap_or_else(|error| {
                    Err(JwksFetchError(format!("fetch task ended: {error}")))
                }),
                Err(_) => get.await,
            }
        })
    }
}

/// Keeps JWKS caches fresh in the background, so token checks rarely wait on a
/// fetch; stops when dropped (unless [detached](Self::detach)) or when every
/// cache it keeps is gone.
#[derive(Debug)]
pub struct JwksRefresher {
    task: Option<JoinHandle<()>>,
}

impl JwksRefresher {
    /// Every `tick`, refreshes each cache that is empty or older than its
    /// issuer's refresh interval (the cache's own rate limit still applies, and
    /// a failed fetch keeps the last good keys). [`HttpJwksSourceFactory`]
    /// starts one per cache it makes. The caches are held weakly: once no
    /// configuration uses them (their runtime replaced by a reload that has
    /// caches of its own, or a reload's build refused), the refresher ends.
    /// Fails outside a tokio runtime.
    pub fn spawn(caches: Vec<Arc<JwksCache>>, tick: Duration) -> Result<Self, crate::AdapterError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            crate::AdapterError::invalid("jwks", "must be started inside a tokio runtime")
        })?;
        let tick = tick.max(Duration::from_millis(10));
        let caches: Vec<std::sync::Weak<JwksCache>> = caches.iter().map(Arc::downgrade).collect();
        let task = runtime.spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let mut any_alive = false;
                for cache in caches.iter().filter_map(std::sync::Weak::upgrade) {
                    any_alive = true;
                    if cache.is_stale() {
                        let outcome = cache.refresh().await;
                        tracing::debug!(?outcome, "JWKS refresh");
                    }
                }
                if !any_alive {
                    return;
                }
            }
        });
        Ok(Self { task: Some(task) })
    }

    /// Lets the refresher run on without this handle, for as long as its
    /// caches live: the stage that owns them decides its lifetime.
    pub fn detach(mut self) {
        self.task = None;
    }

    /// Whether the refresher has ended.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for JwksRefresher {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use http::StatusCode;

    use super::*;
    use crate::http::HttpClientConfig;
    use crate::test_support::{Answer, serve, serve_unframed};

    const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

    fn factory(timeout_ms: u64) -> HttpJwksSourceFactory {
        let config = HttpClientConfig {
            timeout_ms,
            ..HttpClientConfig::default()
        };
        HttpJwksSourceFactory::new(HttpClient::new(&config, "http").unwrap())
    }

    #[tokio::test]
    async fn fetches_the_document_and_the_engine_parses_it() {
        let server = serve(Answer::ok(JWKS)).await;
        let source = factory(5_000).source(&server.url("/jwks.json"));
        let body = source.fetch().await.unwrap();
        assert_eq!(body, JWKS.as_bytes());
        let keys = rampart_authn::jwt::KeySet::from_jwks(&body).unwrap();
        assert!(!format!("{keys:?}").is_empty());
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, http::Method::GET);
        assert_eq!(seen[0].path, "/jwks.json");
        assert!(seen[0].headers.contains_key(http::header::ACCEPT));
    }

    #[tokio::test]
    async fn non_200_is_an_error() {
        let server = serve(Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..Answer::ok("{}")
        })
        .await;
        let err = factory(5_000)
            .source(&server.url("/"))
            .fetch()
            .await
            .unwrap_err();
        assert!(err.0.contains("503"), "{err}");
        // A redirect is not followed.
        server.set(Answer {
            status: StatusCode::FOUND,
            ..Answer::ok("")
        });
        let err = factory(5_000)
            .source(&server.url("/"))
            .fetch()
            .await
            .unwrap_err();
        assert!(err.0.contains("302"), "{err}");
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn bodies_are_bounded_with_and_without_content_length() {
        let server = serve(Answer::ok(vec![b' '; MAX_JWKS_BYTES + 1])).await;
        let err = factory(5_000)
            .source(&server.url("/"))
            .fetch()
            .await
            .unwrap_err();
        assert!(err.0.contains("larger"), "{err}");
        // Exactly at the limit passes.
        server.set(Answer::ok(vec![b' '; MAX_JWKS_BYTES]));
        let body = factory(5_000)
            .source(&server.url("/"))
            .fetch()
            .await
            .unwrap();
        assert_eq!(body.len(), MAX_JWKS_BYTES);
        // No Content-Length: the reader stops at the limit.
        let addr = serve_unframed(4 * MAX_JWKS_BYTES).await;
        let url = format!("http://127.0.0.1:{}/", addr.port());
        let err = factory(5_000).source(&url).fetch().await.unwrap_err();
        assert!(err.0.contains("larger"), "{err}");
    }

    #[tokio::test]
    async fn a_slow_server_hits_the_deadline() {
        let server = serve(Answer {
            delay: Duration::from_secs(30),
            ..Answer::ok(JWKS)
        })
        .await;
        let err = factory(200)
            .source(&server.url("/"))
            .fetch()
            .await
            .unwrap_err();
        assert!(err.0.contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn refused_urls_never_connect() {
        let server = serve(Answer::ok(JWKS)).await;
        let port = server.addr.port();
        for url in [
            format!("http://127.0.0.1.nip.io:{port}/"),
            format!("http://localhost@127.0.0.1:{port}/"),
            "http://example.com/jwks".to_string(),
        ] {
            let err = factory(5_000).source(&url).fetch().await.unwrap_err();
            assert!(err.0.contains("refused URL"), "{url}: {err}");
        }
        assert!(server.seen().is_empty());
    }

    #[tokio::test]
    async fn the_refresher_fills_and_renews_caches() {
        use rampart_authn::clock::ManualClock;
        use rampart_authn::jwt::JwksCachePolicy;

        let server = serve(Answer::ok(JWKS)).await;
        let clock = Arc::new(ManualClock::at_secs(1_000));
        let cache = Arc::new(JwksCache::new(
            factory(5_000).source(&server.url("/jwks.json")),
            clock.clone(),
            JwksCachePolicy {
                refresh_interval: Duration::from_secs(300),
                ..JwksCachePolicy::default()
            },
        ));
        let refresher =
            JwksRefresher::spawn(vec![cache.clone()], Duration::from_millis(20)).unwrap();
        for _ in 0..200 {
            if cache.current().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(cache.current().is_some());
        // Fresh keys are not refetched.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.seen().len(), 1);
        // Stale keys are.
        clock.advance(Duration::from_secs(301));
        for _ in 0..200 {
            if server.seen().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.seen().len(), 2);
        // Once the caches are gone (their stage dropped), the refresher ends.
        assert!(!refresher.is_finished());
        drop(cache);
        for _ in 0..200 {
            if refresher.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refresher.is_finished(), "refresher outlived its caches");
    }

    #[tokio::test]
    async fn caches_and_their_keys_are_kept_across_reloads() {
        use rampart_authn::clock::ManualClock;

        let server = serve(Answer::ok(JWKS)).await;
        let factory = factory(5_000);
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_secs(1_000));
        let url = server.url("/jwks.json");
        let policy = JwksCachePolicy::default();
        let running = factory.cache(&url, policy, &clock);
        assert!(running.keys_for(Some("k1")).await.is_some());
        // The identity provider goes down, then the configuration is reloaded
        // with the same settings: it gets the running cache, keys and all.
        server.set(Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..Answer::ok("")
        });
        let reloaded = factory.cache(&url, policy, &clock);
        assert!(Arc::ptr_eq(&running, &reloaded));
        // Changed timings get a cache of their own, with the keys of the URL.
        let slower = JwksCachePolicy {
            refresh_interval: Duration::from_secs(600),
            ..policy
        };
        let changed = factory.cache(&url, slower, &clock);
        assert!(!Arc::ptr_eq(&running, &changed));
        assert!(changed.keys_for(Some("k1")).await.is_some());
        // Another URL's keys are never taken.
        let elsewhere = factory.cache(&server.url("/other.json"), policy, &clock);
        assert!(elsewhere.current().is_none());
        // A cache no configuration uses any more is not kept.
        drop((running, reloaded, changed, elsewhere));
        let fresh = factory.cache(&url, policy, &clock);
        assert!(fresh.current().is_none());
        assert_eq!(factory.caches.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_fetch_outlives_the_request_that_started_it() {
        use futures_util::FutureExt;
        use rampart_authn::clock::ManualClock;

        let server = serve(Answer::ok(JWKS)).await;
        // No background refresher here: only requests drive the cache.
        let cache = JwksCache::new(
            factory(1_000).source(&server.url("/jwks.json")),
            Arc::new(ManualClock::at_secs(1_000)),
            JwksCachePolicy::default(),
        );
        // The request that needs the keys is cancelled at once (its client
        // went away)...
        assert!(cache.keys_for(Some("k1")).now_or_never().is_none());
        // ...and nothing drives the fetch for longer than its deadline: it
        // ran on its own, so the next request gets its keys without another.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(cache.keys_for(Some("k1")).await.is_some());
        assert_eq!(server.seen().len(), 1);
    }

    #[test]
    fn the_refresher_needs_a_runtime() {
        assert!(JwksRefresher::spawn(Vec::new(), Duration::from_secs(1)).is_err());
    }

    #[tokio::test]
    async fn unreachable_server_is_a_connection_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/");
        let err = factory(5_000).source(&url).fetch().await.unwrap_err();
        assert!(err.0.contains("connection failed"), "{err}");
    }
}
