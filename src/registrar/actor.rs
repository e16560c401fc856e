//! The registrar task (a driver): takes REGISTER requests from the SIP endpoint, loads the
//! extension's account, runs [`RegistrarCore`], saves locks and bindings, updates the
//! [`Location`] cache and hands the response back to the endpoint's transaction. It decides
//! nothing itself; a database that does not answer gets `503` with `Retry-After`, and
//! nothing is half-stored (the bindings are written before the cache and the 200).

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::call::driver::EndpointCommand;
use crate::clock::{monotonic_now as now, Clock};
use crate::db::Db;
use crate::registrar::core::{LockChange, Refusal, RegistrarCore, SipAccount};
use crate::registrar::{store, Location};
use crate::sip::message::Message;
use crate::sip::registrar::Reach;
use crate::sip::response::{new_tag, unavailable};
use crate::sip::transaction::TxKey;
use crate::telemetry;

/// One request to authenticate (REGISTER, or an INVITE from a softphone to an
/// extension); the endpoint holds its server transaction under `key`.
#[derive(Debug)]
pub struct RegisterJob {
    pub key: TxKey,
    pub request: Message,
    pub reach: Reach,
}

pub struct Registrar {
    pub db: Db,
    pub core: RegistrarCore,
    pub location: Location,
    pub clock: Arc<dyn Clock>,
    pub endpoint: mpsc::Sender<EndpointCommand>,
    pub retry_after: u32,
}

impl Registrar {
    /// Load every unexpired binding into the location cache (a restart keeps them).
    pub async fn load(
        db: &Db,
        location: &Location,
        clock: &dyn Clock,
    ) -> Result<usize, crate::db::DbError> {
        let all = store::all_bindings(db, clock.now()).await?;
        let n = all.len();
        let mut by_ext: std::collections::BTreeMap<String, Vec<_>> = Default::default();
        for (ext, b) in all {
            by_ext.entry(ext).or_default().push(b);
        }
        for (ext, b) in by_ext {
            location.set(&ext, b);
        }
        metrics::gauge!(telemetry::SIP_REGISTERED).set(location.registered(clock.now()) as f64);
        Ok(n)
    }

    pub async fn run(mut self, mut jobs: mpsc::Receiver<RegisterJob>) {
        let mut handled: u64 = 0;
        while let Some(job) = jobs.recv().await {
            let is_invite = job.request.method().is_some_and(|m| m.as_str() == "INVITE");
            let command = if is_invite {
                EndpointCommand::InviteAuthenticated {
                    key: job.key.clone(),
                    result: self.handle_invite(&job).await,
                }
            } else {
                EndpointCommand::RespondRequest {
                    key: job.key.clone(),
                    response: self.handle(&job).await,
                }
            };
            let _ = self.endpoint.send(command).await;
            handled += 1;
            if handled % 1024 == 0 {
                self.core.prune(self.clock.now());
            }
        }
    }

    async fn handle(&mut self, job: &RegisterJob) -> Message {
        let utc = self.clock.now();
        let realm = self.core.policy().realm.clone();
        // Without credentials the core only challenges: neither the account nor the bindings
        // are looked up for the 401 (half of a registration's database round trips).
        let has_credentials = job.request.header("authorization").is_some();
        let ext = has_credentials.then(|| job.request.to_user()).flatten();
        let mut account = match (&ext, has_credentials) {
            (Some(e), true) => match store::account(&self.db, e, &realm).await {
                Ok(a) => a,
                Err(e) => return self.unavailable(&job.request, &e),
            },
            _ => None,
        };
        let current = ext
            .as_deref()
            .map(|e| self.location.lookup(e, utc))
            .unwrap_or_default();
        let tag = new_tag();
        let out = self.core.handle_register(
            now(),
            utc,
            &job.request,
            job.reach,
            account.as_mut(),
            &current,
            &tag,
        );
        if let Err(e) = self.save_lock(utc, account.as_ref(), out.lock).await {
            return self.unavailable(&job.request, &e);
        }
        count_refusal(out.refused, job);
        if let Some((ext, bindings)) = &out.store {
            if let Err(e) = store::replace_bindings(&self.db, ext, &current, bindings).await {
                return self.unavailable(&job.request, &e);
            }
            let before = current.len();
            self.location.set(ext, bindings.clone());
            if bindings.len() != before {
                info!(extension = %ext, contacts = bindings.len(), "registration changed");
            }
            metrics::counter!(telemetry::SIP_REGISTRATIONS, "result" => "ok").increment(1);
            if current.is_empty() != bindings.is_empty() {
                // Only a first binding or a last unbinding changes the count (a refresh,
                // the common case, does not rescan every extension).
                metrics::gauge!(telemetry::SIP_REGISTERED)
                    .set(self.location.registered(utc) as f64);
            }
        }
        out.response
    }

    /// Authenticate an INVITE as its From extension: `Ok(extension)`, or the response.
    async fn handle_invite(&mut self, job: &RegisterJob) -> Result<String, Message> {
        let utc = self.clock.now();
        let realm = self.core.policy().realm.clone();
        let from = job.request.from_user().unwrap_or_default();
        let mut account = match store::account(&self.db, &from, &realm).await {
            Ok(a) => a,
            Err(e) => return Err(self.unavailable(&job.request, &e)),
        };
        let tag = new_tag();
        let result = self.core.authenticate_invite(
            now(),
            utc,
            &job.request,
            job.reach,
            account.as_mut(),
            &tag,
        );
        let lock = match &result {
            Ok((_, lock)) => *lock,
            Err(out) => out.lock,
        };
        if let Err(e) = self.save_lock(utc, account.as_ref(), lock).await {
            return Err(self.unavailable(&job.request, &e));
        }
        match result {
            Ok((ext, _)) => Ok(ext),
            Err(out) => {
                count_refusal(out.refused, job);
                Err(out.response)
            }
        }
    }

    /// Save what the core did to the account's SIP lock (and say so when it locked).
    async fn save_lock(
        &self,
        utc: jiff::Timestamp,
        account: Option<&SipAccount>,
        lock: LockChange,
    ) -> Result<(), crate::db::DbError> {
        let Some(a) = account.filter(|_| lock != LockChange::None) else {
            return Ok(());
        };
        let locked = matches!(lock, LockChange::Locked(_));
        store::save_lock(&self.db, utc, a, locked).await?;
        if let LockChange::Locked(until) = lock {
            warn!(extension = %a.extension, %until, "SIP extension locked after wrong digest answers");
            metrics::counter!(telemetry::SIP_LOCKOUTS).increment(1);
        }
        Ok(())
    }

    fn unavailable(&self, req: &Message, e: &crate::db::DbError) -> Message {
        warn!(error = %e, "registrar database unavailable; REGISTER answered 503");
        metrics::counter!(telemetry::SIP_REGISTRATIONS, "result" => "db_unavailable").increment(1);
        unavailable(req, self.retry_after)
    }
}

fn count_refusal(refused: Option<Refusal>, job: &RegisterJob) {
    if let Some(why) = refused {
        metrics::counter!(telemetry::SIP_AUTH_FAILURES, "reason" => why.label()).increment(1);
        debug!(reason = why.label(), source = %job.reach.source(), "request refused");
    }
}

#[cfg(test)]
#[path = "actor_tests.rs"]
mod tests;
