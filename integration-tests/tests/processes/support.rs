//! What the fault tests share: a world to load (partners, a Qingpu clinic with a product,
//! residents with Qingpu points), and clients that retry as real partners and phones do.

use std::time::{Duration, Instant};

use healthpoints_integration_tests::{Gateway, STAFF_PASSWORD, id_number, journey::day};
use reqwest::Method;
use serde_json::{Value, json};

/// The price of the clinic's product, in Qingpu points.
pub(crate) const PRICE: u64 = 20;
/// Qingpu points granted to each buyer (an honour).
pub(crate) const GRANT: u64 = 2_000;

/// A Qingpu resident: id and access token.
#[derive(Debug, Clone)]
pub(crate) struct Resident {
    pub id: String,
    pub token: String,
}

/// A small world: a sports partner, a Qingpu clinic with a product, and residents of Qingpu
/// with a family doctor there, each granted Qingpu points.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub admin: String,
    pub sports: String,
    pub clinic: String,
    pub product: String,
    pub residents: Vec<Resident>,
    /// The mall the clinic sells in and the residents' points are for: `310118` or `city`.
    pub mall: String,
}

impl World {
    /// The world in the Qingpu mall.
    pub(crate) async fn build(gw: &Gateway, residents: u32) -> Self {
        Self::build_in(gw, residents, "310118").await
    }

    /// The world with the clinic in `mall` (`310118` or `city`) and the residents' granted
    /// points in that mall's book.
    pub(crate) async fn build_in(gw: &Gateway, residents: u32, mall: &str) -> Self {
        let admin = gw.admin_token().await;
        let sports = gw
            .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
            .await;
        let admitted = gw
            .expect(201, Method::POST, &format!("/v1/admin/malls/{mall}/merchants"), Some(&admin),
                Some(json!({"name": "Qingpu Clinic", "licence_no": "91310118MA1", "contact": "021-5999 0000"})))
            .await
            .unwrap();
        let clinic = gw
            .staff(&admin, json!({"username": "clinic-op", "password": STAFF_PASSWORD, "role": "merchant_operator",
                "merchant_id": admitted["merchant_id"], "mall": mall}))
            .await
            .unwrap();
        let product = gw
            .expect(201, Method::POST, "/v1/merchant/products", Some(&clinic),
                Some(json!({"title": "Blood pressure check", "category": "health_service", "price_points": PRICE, "stock": 10_000})))
            .await
            .unwrap()["product_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut people = Vec::new();
        for seq in 0..residents {
            let phone = format!("1370000{seq:04}");
            let id = gw
                .expect(201, Method::POST, "/v1/auth/register", None, Some(json!({
                    "name": "钱芳", "id_number": id_number("310118", "19850505", seq), "phone": phone,
                    "password": "Resident-pass-1", "residence_district": "310118", "residence_type": "registered",
                })))
                .await
                .unwrap()["resident_id"]
                .as_str()
                .unwrap()
                .to_owned();
            gw.expect(200, Method::PUT, &format!("/v1/admin/residents/{id}/family-doctor"), Some(&admin),
                Some(json!({"institution_code": "310118-CHC", "institution_name": "Community Health Centre",
                    "district": "310118", "signed_on": "2026-01-01", "valid_until": "2027-12-31"})))
                .await
                .unwrap();
            let mut honour = json!({
                "resident_id": id, "honour": "volunteer", "period": healthpoints_integration_tests::journey::this_month(),
                "points": GRANT, "citation": "for the fault tests",
            });
            if mall != "city" {
                honour["district"] = json!(mall);
            }
            gw.expect(
                201,
                Method::POST,
                "/v1/admin/honours",
                Some(&admin),
                Some(honour),
            )
            .await
            .unwrap();
            let token = gw.login(&phone, "Resident-pass-1").await;
            people.push(Resident { id, token });
        }
        Self {
            admin,
            sports,
            clinic,
            product,
            residents: people,
            mall: mall.to_owned(),
        }
    }

    /// The tokens of every resident, for the invariants.
    pub(crate) fn tokens(&self) -> Vec<String> {
        self.residents.iter().map(|r| r.token.clone()).collect()
    }

    /// The product's stock left, as the public catalogue shows it.
    pub(crate) async fn stock(&self, gw: &Gateway) -> u64 {
        let list = gw
            .expect(
                200,
                Method::GET,
                &format!("/v1/malls/{}/products", self.mall),
                None,
                None,
            )
            .await
            .unwrap();
        list["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["product_id"] == self.product.as_str())
            .and_then(|p| p["stock"].as_u64())
            .unwrap()
    }

    /// Waits (at most 30 s) until the stock is down to `at_most`: orders are flowing. Returns
    /// the stock then.
    pub(crate) async fn until_sold(&self, gw: &Gateway, at_most: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stock = self.stock(gw).await;
            if stock <= at_most {
                return stock;
            }
            assert!(
                Instant::now() < deadline,
                "no orders for 30 s: stock {stock}, waiting for {at_most}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// 10,000 steps of a resident on a day `days_ago` back.
pub(crate) fn steps(record: &str, resident: &str, days_ago: i64) -> Value {
    json!({"record_id": record, "resident_id": resident, "behaviour": "steps.daily",
           "occurred_at": format!("{}T21:00:00+08:00", day(days_ago)), "quantity": 10_000})
}

/// Whether an answer is one a client should retry: no answer at all, or 502/503/504.
fn retryable(answer: &Result<(u16, Value), reqwest::Error>) -> bool {
    match answer {
        Err(_) => true,
        Ok((status, _)) => matches!(status, 502..=504),
    }
}

/// Sends `method path` with `body` and `key` (as `Idempotency-Key`) until it is answered with
/// anything but a retryable failure, for at most 90 s. Returns the answer and the tries.
pub(crate) async fn until_answered(
    gw: &Gateway,
    method: Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> ((u16, Value), u32) {
    let started = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let mut request = gw.request(method.clone(), path, Some(token)).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let answer = match request.send().await {
            Ok(response) => Ok(healthpoints_integration_tests::split(response).await),
            Err(e) => Err(e),
        };
        if !retryable(&answer) {
            return (answer.unwrap(), tries);
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{path}: no answer after {tries} tries: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one buyer did: who, the orders acknowledged (201), and the retries it took.
pub(crate) type Bought = (Resident, Vec<String>, u32);

/// Buyers ordering the clinic's product one after another (a new `Idempotency-Key` per order,
/// the same one on every retry) until `stop` is set.
pub(crate) fn spawn_buyers(
    gw: &Gateway,
    world: &World,
    buyers: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Bought>> {
    world
        .residents
        .iter()
        .take(buyers)
        .cloned()
        .map(|buyer| {
            let (gw, product, stop) = (gw.clone(), world.product.clone(), stop.clone());
            let orders = format!("/v1/malls/{}/orders", world.mall);
            tokio::spawn(async move {
                let (mut placed, mut retries) = (Vec::new(), 0);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let key = format!("{}-{}", buyer.id, placed.len());
                    let ((status, order), tries) = until_answered(
                        &gw,
                        Method::POST,
                        &orders,
                        &buyer.token,
                        Some(&key),
                        &json!({"product_id": product}),
                    )
                    .await;
                    assert_eq!(status, 201, "an order refused: {order}");
                    retries += tries - 1;
                    placed.push(order["order_id"].as_str().unwrap().to_owned());
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                (buyer, placed, retries)
            })
        })
        .collect()
}

/// Each buyer's orders in the Qingpu mall are exactly the acknowledged ones, each once, and the
/// stock taken is their number. Returns how many there are.
pub(crate) async fn check_orders(
    gw: &Gateway,
    world: &World,
    bought: &[Bought],
    stock_before: u64,
) -> usize {
    let mut total = 0;
    for (buyer, placed, _) in bought {
        let unique: std::collections::BTreeSet<&String> = placed.iter().collect();
        assert_eq!(unique.len(), placed.len(), "an order acknowledged twice");
        let listed = gw
            .eventually(
                &format!("/v1/me/orders?mall={}&page_size=500", world.mall),
                &buyer.token,
                Duration::from_secs(30),
                |b| {
                    b["orders"]
                        .as_array()
                        .is_some_and(|os| os.len() == placed.len())
                },
            )
            .await;
        let listed: std::collections::BTreeSet<String> = listed["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            listed,
            placed.iter().cloned().collect(),
            "the buyer's orders are the acknowledged ones"
        );
        total += placed.len();
    }
    assert_eq!(
        stock_before - world.stock(gw).await,
        total as u64,
        "stock taken = orders"
    );
    total
}

/// Sends a partner batch until it is answered with 200; the answer and the tries it took.
pub(crate) async fn send_batch(gw: &Gateway, token: &str, batch: &[Value]) -> (Value, u32) {
    let ((status, answer), tries) = until_answered(
        gw,
        Method::POST,
        "/v1/partner/behaviours",
        token,
        None,
        &json!(batch),
    )
    .await;
    assert_eq!(status, 200, "a batch refused: {answer}");
    (answer, tries)
}

/// Resends `batches` until no record is answered `pending` (intake's sweeper books what the
/// ledger did not confirm), for at most a minute; every record's answer, in order.
pub(crate) async fn settle(gw: &Gateway, token: &str, batches: &[Vec<Value>]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut again = Vec::new();
        for batch in batches {
            let (answer, _) = send_batch(gw, token, batch).await;
            again.extend(answer["results"].as_array().unwrap().clone());
        }
        if again.iter().all(|r| r["outcome"] != "pending") || Instant::now() > deadline {
            return again;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A steady load on a world: a partner sending steps for every resident, day by day back to 28
/// days ago, ten records a batch, one batch after another; and buyers ordering the clinic's
/// product one after another. Both retry as real clients do.
pub(crate) struct Load {
    pub batches: Vec<Vec<Value>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    progress: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    partner: tokio::task::JoinHandle<(Vec<Value>, u32)>,
    buyers: Vec<tokio::task::JoinHandle<Bought>>,
}

/// What the load was told, once stopped.
pub(crate) struct Told {
    pub answers: Vec<Value>,
    pub batch_retries: u32,
    pub orders: Vec<Bought>,
    pub order_retries: u32,
}

impl Load {
    pub(crate) fn start(gw: &Gateway, world: &World, buyers: usize) -> Self {
        use std::sync::{
            Arc,
            atomic::{AtomicBool, AtomicUsize, Ordering},
        };
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicUsize::new(0));
        let records: Vec<Value> = (1..=28)
            .flat_map(|d| {
                world
                    .residents
                    .iter()
                    .map(move |r| steps(&format!("{}-{d}", r.id), &r.id, d))
            })
            .collect();
        let batches: Vec<Vec<Value>> = records.chunks(10).map(<[Value]>::to_vec).collect();
        let partner = {
            let (gw, token, batches) = (gw.clone(), world.sports.clone(), batches.clone());
            let (stop, progress) = (stop.clone(), progress.clone());
            tokio::spawn(async move {
                let (mut answers, mut retries) = (Vec::new(), 0);
                for batch in &batches {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let (answer, tries) = send_batch(&gw, &token, batch).await;
                    retries += tries - 1;
                    answers.push(answer);
                    progress.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (answers, retries)
            })
        };
        let buyers = spawn_buyers(gw, world, buyers, &stop);
        Self {
            batches,
            stop,
            progress,
            partner,
            buyers,
        }
    }

    /// Waits until `more` further batches are answered (or every batch is), for at most a
    /// minute; how long it took.
    pub(crate) async fn until_more_answered(&self, more: usize, what: &str) -> Duration {
        use std::sync::atomic::Ordering;
        let started = Instant::now();
        let target = (self.progress.load(Ordering::SeqCst) + more).min(self.batches.len());
        while self.progress.load(Ordering::SeqCst) < target {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no batch answered for 60 s {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }

    /// Stops the partner and the buyers; what they were told.
    pub(crate) async fn stop(self) -> Told {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (answers, batch_retries) = self.partner.await.expect("the partner finishes");
        let mut orders = Vec::new();
        for b in self.buyers {
            orders.push(b.await.expect("the buyers finish"));
        }
        let order_retries = orders.iter().map(|(_, _, r)| r).sum();
        Told {
            answers,
            batch_retries,
            orders,
            order_retries,
        }
    }
}

/// What the load left, checked: every record answered is answered the same on a resend (the
/// pending ones settle), none twice; the city book issued `issued_before` plus the awards;
/// each buyer's orders are exactly the acknowledged ones, once each, and the stock taken is
/// their number. Returns (records, points awarded, orders).
pub(crate) async fn verify(
    gw: &Gateway,
    world: &World,
    batches: &[Vec<Value>],
    told: &Told,
    stock_before: u64,
    issued_before: u64,
) -> (usize, u64, usize) {
    let first: Vec<Value> = told
        .answers
        .iter()
        .flat_map(|a| a["results"].as_array().unwrap().clone())
        .collect();
    let settled = settle(gw, &world.sports, &batches[..told.answers.len()]).await;
    for (before, after) in first.iter().zip(&settled) {
        assert_eq!(before["record_id"], after["record_id"]);
        assert_eq!(after["outcome"], "awarded", "{after}");
        assert_eq!(before["points"], after["points"], "{before} then {after}");
    }
    let awarded: u64 = settled.iter().map(|r| r["points"].as_u64().unwrap()).sum();
    let book = gw
        .expect(
            200,
            Method::GET,
            "/v1/admin/books/city/stats",
            Some(&world.admin),
            None,
        )
        .await
        .unwrap();
    assert_eq!(book["issued"], json!(awarded + issued_before), "{book}");
    let placed = check_orders(gw, world, &told.orders, stock_before).await;
    (first.len(), awarded, placed)
}
