use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use healthpoints_integration_tests::{
    Gateway, id_number, invariants,
    journey::{self, day, register},
    processes::ProcessMesh,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{World, check_orders, send_batch, settle, spawn_buyers};

/// `kill -9` of the ledger while a partner sends a week of steps for 30 residents, retrying as
/// partners do; the ledger restarts on its database. Afterwards every record was answered once
/// and the same way on a resend, nothing is left pending, and the ledger holds exactly the
/// points the answers said were awarded — per resident and per book.
#[tokio::test]
async fn a_ledger_killed_mid_load_loses_and_doubles_nothing() {
    let mut mesh = ProcessMesh::start().await;
    let admin = mesh.admin_token().await;
    let sports = mesh
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let mut residents = Vec::new();
    for seq in 0..30u32 {
        let phone = format!("1370000{seq:04}");
        let (status, body) = mesh
            .call(Method::POST, "/v1/auth/register", None, Some(json!({
                "name": "钱芳", "id_number": id_number("310118", "19850505", seq), "phone": phone,
                "password": "Resident-pass-1", "residence_district": "310118", "residence_type": "registered",
            })))
            .await;
        assert_eq!(status, 201, "{body}");
        residents.push((body["resident_id"].as_str().unwrap().to_owned(), phone));
    }
    // A week of steps (6 past days), 18 batches of 10 records.
    let records: Vec<Value> = residents
        .iter()
        .flat_map(|(id, _)| {
            (1..=6).map(move |d| {
                json!({"record_id": format!("{id}-{d}"), "resident_id": id, "behaviour": "steps.daily",
                       "occurred_at": format!("{}T21:00:00+08:00", day(d)), "quantity": 8_000 + 500 * d})
            })
        })
        .collect();
    let batches: Vec<Vec<Value>> = records.chunks(10).map(<[Value]>::to_vec).collect();

    let sent = Arc::new(AtomicUsize::new(0));
    let load = {
        let gateway = (*mesh).clone();
        let sports = sports.clone();
        let batches = batches.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut retries = 0;
            for batch in &batches {
                let (answer, tries) = send_batch(&gateway, &sports, batch).await;
                retries += tries - 1;
                answers.push(answer);
                sent.fetch_add(1, Ordering::SeqCst);
            }
            (answers, retries)
        })
    };
    // Let a few batches through, then kill the ledger in the middle of the load.
    while sent.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    mesh.kill("ledger").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    mesh.restart("ledger").await;
    let (answers, retries) = load.await.expect("the load finishes");

    // Acknowledged outcomes: awarded, or pending (decided, the ledger hand-off unconfirmed).
    let first: Vec<Value> = answers
        .iter()
        .flat_map(|a| a["results"].as_array().unwrap().clone())
        .collect();
    assert_eq!(first.len(), records.len());
    for r in &first {
        assert!(
            matches!(
                r["outcome"].as_str(),
                Some("awarded" | "pending" | "capped")
            ),
            "{r}"
        );
    }
    // Intake's sweeper finishes what was pending; a resend answers each record as stored.
    let settled = settle(&mesh, &sports, &batches).await;
    for (before, after) in first.iter().zip(&settled) {
        assert_eq!(before["record_id"], after["record_id"]);
        assert_ne!(after["outcome"], "pending", "{after}");
        assert_eq!(
            before["points"], after["points"],
            "a record's points never change: {before} then {after}"
        );
    }
    let awarded: u64 = settled
        .iter()
        .filter(|r| r["outcome"] == "awarded")
        .map(|r| r["points"].as_u64().unwrap())
        .sum();
    assert!(awarded > 0);

    // The ledger holds exactly what was acknowledged: the city book and each resident.
    let (status, book) = mesh
        .call(
            Method::GET,
            "/v1/admin/books/city/stats",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{book}");
    assert_eq!(book["issued"], json!(awarded), "{book}");
    assert_eq!(book["outstanding"], json!(awarded), "{book}");
    // Five residents by name (the book above counts them all; more logins from one address
    // would meet the login rate limits).
    let mut tokens = Vec::new();
    for (i, (id, phone)) in residents.iter().enumerate().take(5) {
        let token = mesh.login(phone, "Resident-pass-1").await;
        let (_, balances) = mesh
            .call(Method::GET, "/v1/me/balances", Some(&token), None)
            .await;
        let held = balances["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["book"] == "city")
            .map_or(0, |b| b["posted"].as_u64().unwrap());
        let theirs: u64 = settled[i * 6..i * 6 + 6]
            .iter()
            .filter(|r| r["outcome"] == "awarded")
            .map(|r| r["points"].as_u64().unwrap())
            .sum();
        assert_eq!(held, theirs, "resident {id}: {balances}");
        tokens.push(token);
    }
    let pending = first.iter().filter(|r| r["outcome"] == "pending").count();
    // The outage was seen: batches were retried, or answered pending while the ledger was away.
    assert!(
        retries > 0 || pending > 0,
        "the kill went unnoticed: no retry and nothing pending"
    );
    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &tokens)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!(
        "ledger kill -9: {} records in {} batches, {retries} retries, {pending} first answered pending, {awarded} points awarded once; invariants: {checked}",
        records.len(),
        batches.len()
    );
}

/// SIGTERM to the gateway while residents keep calling it: every request the gateway took is
/// answered whole, and the process exits cleanly within its grace period. A client cannot tell a
/// request the gateway took and dropped from one it never took (a connection still queued in
/// the kernel when the listener closes is reset, exactly like a taken one the server drops), so
/// the gateway's own account decides: with request tracing on, every request its log shows as
/// started is one a client received whole — failures are only requests never taken. Each
/// request opens its own connection, so that a kept-alive connection the server closes while
/// idle (which a client retries) is not mistaken for a cut.
#[tokio::test]
async fn the_gateway_drains_on_sigterm() {
    let mut mesh = ProcessMesh::start().await;
    // The gateway again, logging every request it takes and answers.
    mesh.terminate("gateway", Duration::from_secs(20)).await;
    mesh.configure(
        "gateway",
        "telemetry.log_filter",
        "warn,healthpoints_gateway::observe=debug",
    );
    mesh.restart("gateway").await;
    let logged_before = mesh.log("gateway");
    let mut clients = Vec::new();
    for _ in 0..6 {
        let gateway = Gateway {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            ..(*mesh).clone()
        };
        clients.push(tokio::spawn(async move {
            let (mut answered, mut refused) = (0u32, 0u32);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(4) {
                match gateway.request(Method::GET, "/v1/rules", None).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        assert!(
                            status == 200 || status == 503,
                            "a request in flight during shutdown got {status}"
                        );
                        r.text().await.expect("an answer that started is finished");
                        answered += 1;
                    }
                    Err(e) => {
                        // Refused at connect, or reset before an answer started; the gateway's
                        // log below proves none of these was a request it took.
                        assert!(
                            e.is_connect() || e.is_request(),
                            "only requests not taken may fail: {e}"
                        );
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (answered, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (took, clean) = mesh.terminate("gateway", Duration::from_secs(20)).await;
    assert!(clean, "the gateway exits with status 0 after SIGTERM");
    let mut answered = 0;
    let mut refused = 0;
    for c in clients {
        let (a, r) = c.await.expect("clients finish");
        answered += a;
        refused += r;
    }
    assert!(
        answered > 0 && refused > 0,
        "{answered} answered, {refused} refused"
    );
    // The gateway's account of this run: what it took, and what it answered.
    let logged = mesh.log("gateway");
    let during = &logged[logged_before.len()..];
    let count = |event: &str| {
        during
            .lines()
            .filter(|l| l.contains("/v1/rules") && l.contains(event))
            .count()
    };
    let (taken, finished) = (count("request taken"), count("request answered"));
    let sample: Vec<&str> = during.lines().take(5).collect();
    assert_eq!(
        taken, finished,
        "every request the gateway took, it answered; its log began {sample:#?}"
    );
    assert_eq!(
        taken, answered as usize,
        "the clients received whole every request the gateway took, and only those; its log began {sample:#?}"
    );
    println!(
        "gateway SIGTERM: exited in {took:?}; {answered} requests taken and answered whole, {refused} never taken"
    );
}

/// The Qingpu mall gets SIGTERM while residents keep ordering there: it finishes what is in
/// flight and exits cleanly within its grace period; within seconds its residents are routed to
/// the city mall with the reason, while a Yangpu resident is still served by Yangpu. Started
/// again, routing returns, the buyers' retries complete, and no order is lost or doubled.
///
/// So that calls are surely in flight at the SIGTERM, the ledger is paused first (orders wait in
/// the mall for their reservation) and resumed a second into the drain; the mall's own log
/// (each call taken and answered, at debug level) shows it answered every call it took.
#[tokio::test]
async fn a_district_mall_stopped_under_orders_drains_and_is_routed_around() {
    let mut mesh = ProcessMesh::start().await;
    mesh.terminate("mall-310118", Duration::from_secs(20)).await;
    mesh.configure(
        "mall-310118",
        "telemetry.log_filter",
        "warn,healthpoints_grpc::rpc_layer=debug",
    );
    mesh.restart("mall-310118").await;
    // Back in the gateway's registry (a mall it holds down answers 503).
    let back_at = Instant::now();
    while mesh
        .call(Method::GET, "/v1/malls/310118/products", None, None)
        .await
        .0
        != 200
    {
        assert!(
            back_at.elapsed() < Duration::from_secs(10),
            "the mall came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let world = World::build(&mesh, 3).await;
    let stock_before = world.stock(&mesh).await;
    let (_, yangpu) = {
        let (id, _) = register(&mesh, "13900009999", "310110", "19800101", 999)
            .await
            .unwrap();
        mesh.expect(200, Method::PUT, &format!("/v1/admin/residents/{id}/family-doctor"), Some(&world.admin),
            Some(json!({"institution_code": "310110-CHC", "institution_name": "Community Health Centre",
                "district": "310110", "signed_on": "2026-01-01", "valid_until": "2027-12-31"})))
            .await
            .unwrap();
        (id, mesh.login("13900009999", journey::PASSWORD).await)
    };
    let qingpu = world.residents[2].token.clone();
    let gateway = (*mesh).clone();
    let route = async |token: &str| {
        let r = gateway
            .expect(200, Method::GET, "/v1/mall", Some(token), None)
            .await
            .unwrap();
        (
            r["mall"]["mall"].as_str().unwrap().to_owned(),
            r["reason"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(route(&qingpu).await.0, "310118");

    let stop = Arc::new(AtomicBool::new(false));
    let buyers = spawn_buyers(&mesh, &world, 2, &stop);
    // Orders flow before the stop (stock is taken by each one).
    let flowing = world.until_sold(&mesh, stock_before - 2).await;
    // Within the mall's own configured grace period (plus a second to be reaped).
    let grace = healthpoints_mall::config::MallConfig::load(None, &[])
        .unwrap()
        .grpc
        .shutdown_grace_ms;
    let calls = |log: &str, event: &str| {
        log.lines()
            .filter(|l| l.contains("rpc.method=CreateOrder") && l.ends_with(event))
            .count()
    };
    mesh.pause("ledger");
    let waiting = Instant::now();
    let waiting_in_mall = |log: String| calls(&log, "rpc taken") > calls(&log, "rpc answered");
    while !waiting_in_mall(mesh.log("mall-310118")) {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "no order reached the mall while the ledger was paused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ledger = mesh.pid("ledger").expect("the ledger runs");
    let resume = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &ledger.to_string()])
            .status();
    });
    let before = mesh.log("mall-310118");
    let in_flight = calls(&before, "rpc taken") - calls(&before, "rpc answered");
    let (took, clean) = mesh
        .terminate(
            "mall-310118",
            Duration::from_millis(grace) + Duration::from_secs(1),
        )
        .await;
    resume.await.expect("the ledger resumes");
    assert!(clean, "the mall exits with status 0 after SIGTERM");
    let logged = mesh.log("mall-310118");
    let (taken, answered) = (
        logged.lines().filter(|l| l.ends_with("rpc taken")).count(),
        logged
            .lines()
            .filter(|l| l.ends_with("rpc answered"))
            .count(),
    );
    assert_eq!(
        taken, answered,
        "the mall answered every call it took ({in_flight} orders were waiting on the ledger at SIGTERM)"
    );
    let stopped = Instant::now();
    let around = mesh
        .eventually("/v1/mall", &qingpu, Duration::from_secs(10), |b| {
            b["reason"] == "district_mall_unavailable"
        })
        .await;
    let rerouted = stopped.elapsed();
    assert_eq!(around["mall"]["mall"], "city", "{around}");
    assert_eq!(
        route(&yangpu).await,
        ("310110".to_owned(), "family_doctor_contract".to_owned()),
        "other districts are unaffected"
    );
    mesh.expect(200, Method::GET, "/v1/malls/310110/products", None, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    mesh.restart("mall-310118").await;
    let started = Instant::now();
    let back = mesh
        .eventually("/v1/mall", &qingpu, Duration::from_secs(10), |b| {
            b["reason"] == "family_doctor_contract"
        })
        .await;
    let returned = started.elapsed();
    assert_eq!(back["mall"]["mall"], "310118", "{back}");
    // Orders flow again after the restart before the buyers stop.
    world.until_sold(&mesh, flowing - 2).await;
    stop.store(true, Ordering::SeqCst);
    let mut bought = Vec::new();
    for b in buyers {
        bought.push(b.await.expect("the buyers finish"));
    }
    let retries: u32 = bought.iter().map(|(_, _, r)| r).sum();
    assert!(retries > 0, "no buyer saw the mall stopped");
    let orders = check_orders(&mesh, &world, &bought, stock_before).await;
    let checked = invariants::check(&mesh, &mesh.endpoint("ledger"), &world.tokens())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!(
        "district mall SIGTERM: exited in {took:.1?}, {in_flight} orders in flight answered; residents routed to the city mall {rerouted:.1?} after, back {returned:.1?} after the restart; \
         {orders} orders ({retries} retries); invariants: {checked}"
    );
}
