//! Redis adapters: the distributed rate-limit counter store and (later) shared revocation.
