//! The node's identity: its ed25519 keypair (libp2p's format, so the peer id is libp2p's) and its
//! name, both in the data directory and readable only by the owner.

use std::path::{Path, PathBuf};

use libp2p_identity::{Keypair, PeerId};
use serde::{Deserialize, Serialize};

use crate::{write_file_atomically, StoreError};

pub const IDENTITY_FILE: &str = "identity.key";
pub const CONFIG_FILE: &str = "node.json";

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
}

impl Identity {
    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    pub fn create(dir: &Path, config: NodeConfig) -> Result<Identity, StoreError> {
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
        Ok(Identity { keypair, config })
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
        Ok(Identity { keypair, config })
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.clone(),
        source,
    })
}
