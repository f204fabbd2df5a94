//! The node's identity: its ed25519 keypair (libp2p's format, so the peer id is libp2p's) and its
//! name, both in the data directory and readable only by the owner.

use std::path::{Path, PathBuf};

use libp2p_identity::{Keypair, PeerId};
use serde::{Deserialize, Serialize};

use crate::{write_file_atomically, StoreError};

pub const IDENTITY_FILE: &str = "identity.key";
pub const CONFIG_FILE: &str = "node.json";
pub const SITE_KEY_FILE: &str = "site.key";

/// The site's pre-shared key: every machine of a site holds the same one, and the transport
/// refuses any connection from a machine without it. Kept in go-ipfs's `swarm.key` text
/// format, readable only by the owner.
#[derive(Clone, PartialEq, Eq)]
pub struct SiteKey(pub [u8; 32]);

const SITE_KEY_HEADER: &str = "/key/swarm/psk/1.0.0/\n/base16/\n";

impl SiteKey {
    pub fn generate() -> SiteKey {
        SiteKey(rand::random())
    }

    /// The key as 64 hex digits (what an invite carries).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<SiteKey> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SiteKey(key))
    }

    /// A public name for the site, derived from its key (so every machine of the site has the
    /// same one, and nothing about the key can be learnt from it): 16 hex digits, used where
    /// exported data must not collide with another site's (iCalendar UIDs).
    pub fn site_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"shiftmesh site id\0")
            .chain_update(self.0)
            .finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn to_file_text(&self) -> String {
        format!("{SITE_KEY_HEADER}{}\n", self.to_hex())
    }

    fn from_file_text(text: &str) -> Option<SiteKey> {
        SiteKey::from_hex(text.strip_prefix(SITE_KEY_HEADER)?)
    }
}

impl std::fmt::Debug for SiteKey {
    // Never print the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteKey(..)")
    }
}

/// Settings of this node kept in the data directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeConfig {
    /// The node's name, recorded in every change's author as `user@node`.
    pub node_name: String,
}

#[derive(Clone, Debug)]
pub struct Identity {
    pub keypair: Keypair,
    pub config: NodeConfig,
    pub site_key: SiteKey,
}

impl Identity {
    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// Writes a new identity into `dir`, with the site key given (joining a site) or a new one
    /// (founding a site).
    pub fn create(
        dir: &Path,
        config: NodeConfig,
        site_key: Option<SiteKey>,
    ) -> Result<Identity, StoreError> {
        let keypair = Keypair::generate_ed25519();
        let encoded = keypair
            .to_protobuf_encoding()
            .map_err(|e| StoreError::Identity {
                path: dir.join(IDENTITY_FILE),
                reason: e.to_string(),
            })?;
        write_file_atomically(&dir.join(IDENTITY_FILE), &encoded)?;
        let json = serde_json::to_vec_pretty(&config).map_err(|e| StoreError::Identity {
            path: dir.join(CONFIG_FILE),
            reason: e.to_string(),
        })?;
        write_file_atomically(&dir.join(CONFIG_FILE), &json)?;
        let site_key = site_key.unwrap_or_else(SiteKey::generate);
        write_file_atomically(&dir.join(SITE_KEY_FILE), site_key.to_file_text().as_bytes())?;
        Ok(Identity {
            keypair,
            config,
            site_key,
        })
    }

    /// Replaces the site key (joining another site).
    pub fn set_site_key(&mut self, dir: &Path, site_key: SiteKey) -> Result<(), StoreError> {
        write_file_atomically(&dir.join(SITE_KEY_FILE), site_key.to_file_text().as_bytes())?;
        self.site_key = site_key;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Identity, StoreError> {
        let key_path = dir.join(IDENTITY_FILE);
        let bytes = read(&key_path)?;
        let keypair =
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| StoreError::Identity {
                path: key_path.clone(),
                reason: e.to_string(),
            })?;
        let config_path = dir.join(CONFIG_FILE);
        let config =
            serde_json::from_slice(&read(&config_path)?).map_err(|e| StoreError::Identity {
                path: config_path,
                reason: e.to_string(),
            })?;
        let key_path = dir.join(SITE_KEY_FILE);
        let site_key = match std::fs::read_to_string(&key_path) {
            Ok(text) => SiteKey::from_file_text(&text).ok_or_else(|| StoreError::SiteKey {
                path: key_path.clone(),
            })?,
            // A data directory made before site keys existed: found a site now.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SiteKey::generate();
                write_file_atomically(&key_path, key.to_file_text().as_bytes())?;
                key
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: key_path,
                    source,
                })
            }
        };
        Ok(Identity {
            keypair,
            config,
            site_key,
        })
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.clone(),
        source,
    })
}
