//! Forge clients: HTTP with retries and pagination (`http`), and what each
//! forge needs to converge to a compiled plan (`gitea`).

pub mod gitea;
pub mod github_app;
pub mod http;
