//! Clients' API keys: the `api_keys` and `api_key_secrets` tables (their schema in
//! migrations/videos). A key owns videos and carries their limits; its secrets are what clients
//! send. Nothing else reads or writes these tables.

mod key;
pub(crate) mod secret;
mod table;

pub use key::{ApiKey, KeyChange, KeyError, KeyListing, NewKey, SecretInfo, LOCAL_KEY};
pub use secret::Secret;
pub use table::{
    key_authenticate, key_create, key_find, key_list, key_listing, key_revoke, key_rotate,
    key_update,
};
