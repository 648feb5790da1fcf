//! SSH public keys: parsing the one-line OpenSSH format and the fingerprint.

use base64::Engine;
use sha2::{Digest, Sha256};

const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A parsed public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key_type: String,
    pub blob: Vec<u8>,
    pub comment: Option<String>,
}

impl PublicKey {
    /// `sha256:` followed by the unpadded base64url SHA-256 of the key blob
    /// (the spec's fingerprint; the same digest OpenSSH shows in base64).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.blob);
        format!(
            "sha256:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        )
    }
}

/// Parses `<type> <base64> [comment]`. The error says what is wrong without
/// repeating the key.
pub fn parse(text: &str) -> Result<PublicKey, String> {
    let text = text.trim();
    if text.contains('\n') {
        return Err("a public key is a single line".into());
    }
    if text.contains("PRIVATE KEY") {
        return Err("this is a private key; only the public key (`.pub` file) belongs here".into());
    }
    let mut parts = text.split_whitespace();
    let key_type = parts.next().ok_or("the key is empty")?;
    if !KEY_TYPES.contains(&key_type) {
        return Err(format!(
            "unknown key type `{}`; expected one of {}",
            key_type.chars().take(40).collect::<String>(),
            KEY_TYPES.join(", ")
        ));
    }
    let data = parts.next().ok_or("the key has a type but no key data")?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| "the key data is not valid base64".to_string())?;
    if blob.len() < 4 {
        return Err("the key data is too short".into());
    }
    let len = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let inner = blob.get(4..4 + len).ok_or("the key data is truncated")?;
    if inner != key_type.as_bytes() {
        return Err(format!(
            "the key data is not a `{key_type}` key (its blob names `{}`)",
            String::from_utf8_lossy(inner)
                .chars()
                .take(40)
                .collect::<String>()
        ));
    }
    let comment = parts.collect::<Vec<_>>().join(" ");
    Ok(PublicKey {
        key_type: key_type.to_string(),
        blob,
        comment: (!comment.is_empty()).then_some(comment),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl grace@example.com";

    #[test]
    fn parses_and_fingerprints() {
        let k = parse(ED25519).unwrap();
        assert_eq!(k.key_type, "ssh-ed25519");
        assert_eq!(k.comment.as_deref(), Some("grace@example.com"));
        let fp = k.fingerprint();
        assert!(fp.starts_with("sha256:"));
        assert_eq!(fp.len(), "sha256:".len() + 43);
        // Same key, other comment: same fingerprint.
        let other = parse(&ED25519.replace("grace@example.com", "x")).unwrap();
        assert_eq!(other.fingerprint(), fp);
    }

    #[test]
    fn rejects_mismatched_type_and_garbage() {
        assert!(
            parse(&ED25519.replace("ssh-ed25519 ", "ssh-rsa "))
                .unwrap_err()
                .contains("not a `ssh-rsa` key")
        );
        assert!(parse("ssh-ed25519 !!!").is_err());
        assert!(parse("ssh-foo AAAA").is_err());
        assert!(parse("").is_err());
        assert!(
            parse("-----BEGIN OPENSSH PRIVATE KEY-----")
                .unwrap_err()
                .contains("private key")
        );
    }
}
