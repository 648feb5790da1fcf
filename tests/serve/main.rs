//! `kradle serve` from the command line: the bundled example's receivers,
//! webhooks signed and posted as GitHub and Gitea post them, every answer
//! checked against what PostgreSQL then holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::TestDb;
use support::upstream::workspace;

mod agent_writes;
mod agents_api;
mod api;
mod apiservice;
mod backfill;
mod dispatch;
mod harness;
mod ingest;
mod sync;
mod tls;
mod triggers;
mod watch;
mod writeback;

#[allow(unused_imports)]
use agents_api::*;
#[allow(unused_imports)]
use api::*;
#[allow(unused_imports)]
use apiservice::*;
#[allow(unused_imports)]
use backfill::*;
#[allow(unused_imports)]
use dispatch::*;
#[allow(unused_imports)]
use harness::*;
#[allow(unused_imports)]
use ingest::*;
#[allow(unused_imports)]
use sync::*;
#[allow(unused_imports)]
use tls::*;
#[allow(unused_imports)]
use triggers::*;
#[allow(unused_imports)]
use watch::*;
#[allow(unused_imports)]
use writeback::*;
