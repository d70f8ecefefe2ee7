//! Calls spread over a peer's replicas. A peer given as several addresses, or as a DNS name
//! that resolves to several (a Kubernetes headless Service lists every pod), gets one channel
//! balanced over all of them (tower's power of two choices; tonic reports no load, so in
//! effect a random pick among the serving replicas). Every `balance_refresh_ms` a task
//! resolves the names again and asks each address's gRPC health: an address that stops
//! answering SERVING (killed, draining, migrating) leaves the balance and comes back when it
//! answers again. When none answers, all stay in, so calls fail at once with UNAVAILABLE
//! instead of waiting for a replica; a name that does not resolve (or resolves to nothing)
//! stays in as itself, to the same end. The task ends with the channel.

use std::{collections::BTreeMap, time::Duration};

use tonic::transport::{Channel, channel::Change};

use crate::target::{GrpcClientConfig, InvalidEndpoint, Target, addresses};

/// A channel over every replica of `targets`, kept current by a background task.
pub(crate) fn spread(
    config: &GrpcClientConfig,
    targets: Vec<Target>,
) -> Result<Channel, InvalidEndpoint> {
    for target in &targets {
        target.endpoint(config, &target.host)?;
    }
    let (channel, changes) = Channel::balance_channel::<String>(64);
    let config = config.clone();
    let refresh = Duration::from_millis(config.balance_refresh_ms.max(100));
    // A probe may take as long as a connection may: a slow handshake is not a dead replica.
    let probe_timeout = Duration::from_millis(config.connect_timeout_ms);
    tokio::spawn(async move {
        let mut live: BTreeMap<String, ()> = BTreeMap::new();
        let mut ticks = tokio::time::interval(refresh);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if changes.is_closed() {
                return;
            }
            let found = addresses(&config, &targets).await;
            let probes = found.iter().map(|(key, endpoint)| async move {
                let serving = crate::health::probe(endpoint.clone(), "", probe_timeout).await;
                (key.clone(), serving)
            });
            let serving: BTreeMap<String, bool> = futures::future::join_all(probes)
                .await
                .into_iter()
                .collect();
            let none_serving = !serving.values().any(|s| *s);
            let mut sent = Vec::new();
            for (key, endpoint) in &found {
                let wanted = serving[key] || none_serving;
                if wanted && !live.contains_key(key) {
                    sent.push(Change::Insert(key.clone(), endpoint.clone()));
                    live.insert(key.clone(), ());
                } else if !wanted && live.remove(key).is_some() {
                    sent.push(Change::Remove(key.clone()));
                }
            }
            let gone: Vec<String> = live
                .keys()
                .filter(|k| !found.contains_key(*k))
                .cloned()
                .collect();
            for key in gone {
                live.remove(&key);
                sent.push(Change::Remove(key));
            }
            for change in sent {
                if changes.send(change).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(channel)
}
