//! The running server: binds SIP (UDP, TCP), RTP and HTTP, runs the SIP endpoint, the
//! media engine, the service desk (database, REST API, SLA job), prints
//! `READY sip=ADDR http=ADDR udp=ADDR,… tcp=ADDR,…` on stdout once it serves (`sip` is the
//! first SIP address, UDP before TCP; `-` for a transport that is off), and on
//! SIGINT/SIGTERM stops taking calls (503), ends live calls with BYE and exits within the
//! grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::calendar::WorkCalendar;
use crate::call::driver::CallLinks;
use crate::call::events::EventBus;
use crate::call::presence::Presence;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Db;
use crate::endpoint::{Endpoint, EndpointParams};
use crate::http::{self, Health};
use crate::kpi;
use crate::media::engine::MediaEngine;
use crate::preflight;
use crate::registrar::actor::Registrar;
use crate::registrar::core::{RegistrarCore, RegistrarPolicy};
use crate::registrar::Location;
use crate::sip::digest;
use crate::staff::lockout::LockoutPolicy;
use crate::staff::session::Logins;
use crate::telemetry;
use crate::tickets::sla::SlaPolicy;
use crate::tickets::sla_job;
use crate::tickets::store::TicketDesk;
use crate::transport;
use crate::web::{self, ApiState};

/// Addresses the server actually bound (port 0 in config becomes a real port).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub sip: SocketAddr,
    pub http: SocketAddr,
}

/// `qonyrau serve`: run until a signal, then shut down gracefully.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    for w in &config.warnings {
        tracing::warn!(file = %w.file.display(), line = w.line, "config: {}", w.message);
    }
    let prepared =
        preflight::prepare(&config).map_err(|p| anyhow::anyhow!("cannot start:\n{p}"))?;
    let mut prepared = prepared;
    add_queue_numbers(&mut config, &mut prepared.flows)?;
    let prometheus = telemetry::metrics();
    let health = Arc::new(Health::default());
    let cancel = CancellationToken::new();
    let calls_stop = CancellationToken::new();
    let tracker = TaskTracker::new();

    let bound =
        transport::bind(&config.sip.udp, &config.sip.tcp, config.sip.udp_recv_buffer).await?;
    let (udp_addrs, tcp_addrs) = bound.addresses();
    let sip_addr = *udp_addrs
        .first()
        .or(tcp_addrs.first())
        .expect("config guarantees one SIP transport");
    let media = MediaEngine::start_with(
        &config,
        Arc::clone(&prepared.prompts),
        Arc::clone(&prepared.music_on_hold),
    )
    .context("starting the media engine")?;
    let (inbound_tx, inbound_rx) = mpsc::channel(8192);
    let transports = transport::serve(bound, inbound_tx, cancel.clone());
    let desk = open_desk(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let location = Location::default();
    let loaded = Registrar::load(&desk.db, &location, clock.as_ref())
        .await
        .context("loading SIP registrations")?;
    tracing::info!(bindings = loaded, "registrations loaded");
    let (register_tx, register_rx) = mpsc::channel(4096);
    let bus = EventBus::new(config.sip.max_calls.max(1024) * 8);
    let metrics_task = tokio::spawn(kpi::calls::run(bus.clone()));
    let acd = start_acd(&config, &bus, &clock, &desk.db);
    let links_acd = acd.clone();
    // Callbacks, when a queue offers them: the handle goes to the calls now, the service
    // starts once the endpoint (which its calls use) exists.
    let (callbacks, callback_inbox) = match (&acd, callback_queues(&config)) {
        (Some(_), queues) if !queues.is_empty() => {
            let (handle, inbox) = crate::callback::service::channel(queues);
            (Some(handle), Some(inbox))
        }
        _ => (None, None),
    };
    let presence = Presence::default();
    let (service_media, service_prompts, service_bus) =
        (media.clone(), Arc::clone(&prepared.prompts), bus.clone());
    let links = CallLinks {
        acd,
        acd_paid: config.acd.paid,
        bus,
        location: location.clone(),
        presence: presence.clone(),
        media: media.clone(),
        clock: Arc::clone(&clock),
        trunks: config.trunks.clone().into(),
        callbacks: callbacks.clone(),
    };
    let endpoint = Endpoint::new(EndpointParams {
        config: config.clone(),
        flows: prepared.flows,
        prompts: prepared.prompts,
        media,
        transports,
        health: Arc::clone(&health),
        calls_stop: calls_stop.clone(),
        tracker: tracker.clone(),
        registrar: Some(register_tx),
        links,
    });
    let registrar = Registrar {
        db: desk.db.clone(),
        core: RegistrarCore::new(
            tokio::time::Instant::now().into_std(),
            digest::random_secret(),
            registrar_policy(&config),
        ),
        location: location.clone(),
        clock: Arc::clone(&clock),
        endpoint: endpoint.commands(),
        retry_after: config.sip.retry_after,
    };
    let registrar_task = tokio::spawn(registrar.run(register_rx));
    if let (Some(inbox), Some(acd)) = (callback_inbox, links_acd.clone()) {
        // The desk's working calendar (loaded once, for the SLAs too).
        let calendar = config
            .callbacks
            .working_hours_only
            .then(|| WorkCalendar::clone(&desk.calendar));
        let book = crate::callback::CallbackBook::new(
            crate::callback::CallbackRules {
                retry_delay: config.callbacks.retry_delay,
                max_attempts: config.callbacks.max_attempts,
            },
            calendar,
        );
        let placer = crate::callback::service::TaskPlacer {
            endpoint: endpoint.commands(),
            media: service_media,
            prompts: service_prompts,
            language: config.ivr.language.clone(),
            location: location.clone(),
            bus: service_bus.clone(),
            clock: Arc::clone(&clock),
            calls_stop: calls_stop.clone(),
            presence,
        };
        let service = crate::callback::service::CallbackService::new(
            inbox,
            book,
            desk.db.clone(),
            Some(desk.clone()),
            acd,
            Arc::clone(&clock),
            Box::new(placer),
        )
        .with_bus(service_bus);
        tokio::spawn(service.run());
    }
    let endpoint_task = tokio::spawn(endpoint.run(inbound_rx, cancel.clone()));
    let api = ApiState::new(
        desk.clone(),
        Arc::clone(&clock),
        Logins::new(LockoutPolicy::default(), config.desk.session_ttl),
        config.desk.cookie_secure,
    )
    .with_sip_realm(&config.registrar.realm)
    .with_default_language(config.desk.default_language)
    .with_acd(links_acd.clone())
    .with_callbacks(callbacks);
    let sla_task = tokio::spawn(sla_job::run(
        desk,
        clock,
        config.desk.sla_check_every,
        cancel.clone(),
    ));
    let router = http::router(Arc::clone(&health), prometheus).merge(web::router(api));
    let (http_addr, http_task) = http::spawn(config.http.listen, router, cancel.clone())
        .await
        .with_context(|| format!("binding HTTP on {}", config.http.listen))?;

    let (udp_list, tcp_list) = (join(&udp_addrs), join(&tcp_addrs));
    tracing::info!(udp = %udp_list, tcp = %tcp_list, http = %http_addr, "serving");
    println!("READY sip={sip_addr} http={http_addr} udp={udp_list} tcp={tcp_list}");

    shutdown_signal().await;
    tracing::info!("shutting down: refusing new calls, ending live calls");
    health
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    calls_stop.cancel(); // the endpoint answers new INVITEs 503 and each call sends BYE
    tracker.close();
    let grace = config.sip.shutdown_grace;
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(grace = ?grace, "calls still ending after the grace period; dropping them");
    }
    // Give the last BYEs' transactions a moment on the wire, then stop everything.
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), http_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), sla_task).await;
    registrar_task.abort();
    metrics_task.abort();
    Ok(())
}

/// The queues that offer callbacks, each with its trunk.
fn callback_queues(
    config: &Config,
) -> std::collections::HashMap<String, crate::callback::service::QueueCallbacks> {
    config
        .acd
        .queues
        .iter()
        .filter_map(|q| {
            let cb = q.callback.as_ref()?;
            let trunk = config.trunks.iter().find(|t| t.name == cb.trunk)?;
            Some((
                q.config.name.clone(),
                crate::callback::service::QueueCallbacks {
                    key: cb.key,
                    offer_after: cb.offer_after,
                    trunk: Arc::new(trunk.clone()),
                },
            ))
        })
        .collect()
}

/// The ACD task, when queues are configured: every queue's members are its agents (logged
/// out until they log in).
fn start_acd(
    config: &Config,
    bus: &EventBus,
    clock: &Arc<dyn Clock>,
    db: &crate::db::Db,
) -> Option<crate::acd::actor::AcdHandle> {
    if config.acd.queues.is_empty() {
        return None;
    }
    let queues = config
        .acd
        .queues
        .iter()
        .map(|q| crate::acd::actor::QueueSetup {
            config: q.config.clone(),
            members: q.members.clone(),
        })
        .collect();
    let skills = config.acd.skills.clone().into_iter().collect();
    let (task, handle) = crate::acd::actor::AcdTask::new(
        crate::acd::AcdSettings {
            missed_offers_to_pause: config.acd.missed_offers_to_pause,
        },
        queues,
        &skills,
        bus.clone(),
        Arc::clone(clock),
    );
    let (log, writer) = crate::acd::activity::ActivityLog::new(db.clone());
    tokio::spawn(writer);
    tokio::spawn(task.with_log(log).run());
    Some(handle)
}

/// Queues reachable by their own number: the number maps to a generated flow that waits in
/// the queue (`call::routing::queue_flow`).
fn add_queue_numbers(config: &mut Config, flows: &mut crate::ivr::FlowSet) -> anyhow::Result<()> {
    for q in &config.acd.queues {
        let Some(number) = &q.number else {
            continue;
        };
        let flow = crate::call::routing::queue_flow(&q.config.name)
            .map_err(|e| anyhow::anyhow!("the flow of queue {}: {e}", q.config.name))?;
        config.ivr.numbers.insert(number.clone(), flow.name.clone());
        flows.insert(flow);
    }
    Ok(())
}

/// `a,b` for the READY line and the log (`-` when none).
fn join(addrs: &[SocketAddr]) -> String {
    if addrs.is_empty() {
        return "-".into();
    }
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The registrar core's policy from `[registrar]` and `[sip]`.
pub fn registrar_policy(config: &Config) -> RegistrarPolicy {
    let r = &config.registrar;
    RegistrarPolicy {
        realm: r.realm.clone(),
        algorithms: r.algorithms.clone(),
        expiry: r.expiry,
        lockout: LockoutPolicy {
            max_failures: r.lock_after,
            lock_for: r.lock_for,
            source_failures: r.source_failures,
            source_window: r.source_window,
        },
        nonce_lifetime: r.nonce_lifetime,
    }
}

/// The service desk: the database (created and migrated on first start), the working
/// calendar, the priority matrix and the SLA policy from `[desk]`.
pub async fn open_desk(config: &Config) -> anyhow::Result<TicketDesk> {
    let db = Db::open(&config.database.url)
        .await
        .with_context(|| format!("opening the database {}", config.database.url))?;
    let calendar = WorkCalendar::load_dir(&config.desk.calendar_dir).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("working calendar:\n{}", list.join("\n"))
    })?;
    Ok(TicketDesk::new(
        db,
        Arc::new(calendar),
        Arc::new(config.desk.priority_matrix.clone()),
        SlaPolicy {
            complaint_review_days: config.desk.complaint_review_days,
            auto_close_after: config.desk.auto_close_after,
        },
    ))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
