pub use libp2p;
