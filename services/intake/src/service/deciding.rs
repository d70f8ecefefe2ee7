//! Deciding a batch: each fresh event's resident and rule looked up, the residents' history
//! read once for the whole batch, every event judged against it and against the velocity
//! guards in order, and the outcomes recorded in one transaction.

use super::*;

/// An outcome before it has an id and a time.
struct Decision {
    resident_id: Option<String>,
    kind: OutcomeKind,
    points: u64,
    rule: Option<(String, u32)>,
    cap: Option<(String, u64)>,
    reason: Option<(String, String)>,
    duplicate_of: Option<Uuid>,
    book: Option<healthpoints_types::Book>,
}

impl Decision {
    fn rejected(resident_id: Option<String>, why: Rejection) -> Self {
        Self::refused(resident_id, why.code(), why.sentence())
    }

    fn refused(resident_id: Option<String>, code: &str, sentence: &str) -> Self {
        Self {
            resident_id,
            kind: OutcomeKind::Rejected,
            points: 0,
            rule: None,
            cap: None,
            reason: Some((code.to_owned(), sentence.to_owned())),
            duplicate_of: None,
            book: None,
        }
    }

    /// The outcome it makes for `event`, decided at `now`.
    fn record(self, event: &Event, now: DateTime<Utc>) -> Outcome {
        Outcome {
            event_id: Uuid::now_v7(),
            source_id: event.source_id.clone(),
            source_event_id: event.source_event_id.clone(),
            resident_id: self.resident_id,
            behaviour_code: event.behaviour_code.clone(),
            occurred_at: event.occurred_at,
            kind: self.kind,
            points: self.points,
            rule: self.rule,
            points_cut: self.cap.as_ref().map_or(0, |(_, cut)| *cut),
            cap: self.cap.map(|(cap, _)| cap),
            reason: self.reason,
            duplicate_of: self.duplicate_of,
            transfer_id: matches!(self.kind, OutcomeKind::Pending | OutcomeKind::Held)
                .then(|| award_transfer_id(&event.source_id, &event.source_event_id)),
            book: self.book,
            received_at: now,
            cohort: None,
            link_group: None,
        }
    }
}

/// Why an award is held rather than handed to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    UnderReview,
    ResidentVelocity,
    SourceVelocity,
}

impl Hold {
    fn code(self) -> &'static str {
        match self {
            Self::UnderReview => "under_review",
            Self::ResidentVelocity => "velocity_resident",
            Self::SourceVelocity => "velocity_source",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Self::UnderReview => {
                "the resident's awards are held for review; the points are not lost"
            }
            Self::ResidentVelocity => {
                "more reports about this resident within an hour than the programme expects; held for review"
            }
            Self::SourceVelocity => {
                "more reports from this source about this resident within a day than the programme expects; held for review"
            }
        }
    }
}

/// Kinds of outcome that mean "the judge looked at it": they count towards velocity limits and
/// make a later equal report a duplicate.
fn judged(kind: OutcomeKind) -> bool {
    matches!(
        kind,
        OutcomeKind::Pending | OutcomeKind::Awarded | OutcomeKind::Held | OutcomeKind::Capped
    )
}

/// What the judge knows of the locked residents while it goes through a batch: earlier awards
/// (caps), reported facts (duplicates) and recent reports (velocity), extended by every
/// decision of the batch so later events see earlier ones.
#[derive(Default)]
struct Memory {
    tally: Tally,
    /// (resident, behaviour, occurred at µs, quantity) → event.
    facts: HashMap<(String, String, i64, u64), Uuid>,
    recent: RecentReports,
}

impl Memory {
    fn learn(&mut self, p: Past) {
        if matches!(
            p.kind,
            OutcomeKind::Pending | OutcomeKind::Awarded | OutcomeKind::Held
        ) && let Some(code) = &p.rule_code
        {
            self.tally
                .record(&p.resident_id, code, p.occurred_at, p.points);
        }
        if judged(p.kind) {
            self.facts.insert(
                (
                    p.resident_id,
                    p.behaviour_code,
                    p.occurred_at.timestamp_micros(),
                    p.quantity,
                ),
                p.event_id,
            );
        }
    }

    /// Counts a report judged now.
    fn reported(&mut self, resident: &str, source: &str) {
        *self
            .recent
            .last_hour
            .entry(resident.to_owned())
            .or_default() += 1;
        *self
            .recent
            .last_day
            .entry((resident.to_owned(), source.to_owned()))
            .or_default() += 1;
    }

    /// Which velocity limit one more report from `source` about `resident` would break.
    fn too_fast(&self, resident: &str, source: &str, limits: Velocity) -> Option<Hold> {
        let last_hour = self.recent.last_hour.get(resident).copied().unwrap_or(0);
        let from_source = self
            .recent
            .last_day
            .get(&(resident.to_owned(), source.to_owned()))
            .copied()
            .unwrap_or(0);
        if last_hour >= u64::from(limits.resident_per_hour) {
            Some(Hold::ResidentVelocity)
        } else if from_source >= u64::from(limits.source_per_day) {
            Some(Hold::SourceVelocity)
        } else {
            None
        }
    }
}

/// A locked batch being judged: what is known, and the flags raised on the way.
struct Judging {
    memory: Memory,
    /// Residents under a review flag (including those flagged by this batch).
    flagged: BTreeSet<String>,
    /// Flags this batch raises.
    flags: Vec<Flag>,
    velocity: Velocity,
    now: DateTime<Utc>,
}

impl Judging {
    /// Decides one event and remembers it for the events after it.
    fn decide(&mut self, event: &Event, resident: &Resident, rule: &Rule) -> Outcome {
        let outcome = Outcome {
            cohort: Some(resident.cohort(rule.category, event.occurred_at)),
            ..self.decision(event, resident, rule).record(event, self.now)
        };
        if judged(outcome.kind) {
            self.memory
                .reported(&resident.resident_id, &event.source_id);
        }
        self.memory.learn(Past {
            event_id: outcome.event_id,
            resident_id: resident.resident_id.clone(),
            source_id: event.source_id.clone(),
            behaviour_code: event.behaviour_code.clone(),
            rule_code: outcome.rule.as_ref().map(|(c, _)| c.clone()),
            occurred_at: event.occurred_at,
            quantity: event.quantity,
            kind: outcome.kind,
            points: outcome.points,
            received_at: self.now,
        });
        outcome
    }

    fn decision(&mut self, event: &Event, resident: &Resident, rule: &Rule) -> Decision {
        let id = Some(resident.resident_id.clone());
        let judged_as = Some((rule.code.clone(), rule.version));
        // A daily total (steps) reported again is a top-up question for the judge, not a
        // duplicate: the same day from several sources counts once, at its highest.
        let fact = (
            resident.resident_id.clone(),
            event.behaviour_code.clone(),
            event.occurred_at.timestamp_micros(),
            event.quantity,
        );
        if !rule.daily_total
            && let Some(earlier) = self.memory.facts.get(&fact).copied()
        {
            return Decision {
                kind: OutcomeKind::Duplicate,
                duplicate_of: Some(earlier),
                rule: judged_as,
                ..Decision::refused(id, "duplicate", "the same event was already reported")
            };
        }
        let attributes: HashMap<String, String> = event
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let report = Report {
            source_id: &event.source_id,
            occurred_at: event.occurred_at,
            quantity: event.quantity,
            attributes: &attributes,
        };
        let prior = self
            .memory
            .tally
            .prior(&resident.resident_id, &rule.code, event.occurred_at);
        match judge(rule, report, &prior) {
            Verdict::Award { points, cut } => {
                let hold = self.hold(resident, &event.source_id);
                Decision {
                    resident_id: id,
                    kind: if hold.is_some() {
                        OutcomeKind::Held
                    } else {
                        OutcomeKind::Pending
                    },
                    points,
                    rule: judged_as,
                    cap: cut.map(|c| (c.cap.to_owned(), c.points_cut)),
                    reason: hold.map(|h| (h.code().to_owned(), h.sentence().to_owned())),
                    duplicate_of: None,
                    book: rule.book(event.district),
                }
            }
            Verdict::Capped(c) => Decision {
                kind: OutcomeKind::Capped,
                rule: judged_as,
                cap: Some((c.cap.to_owned(), c.points_cut)),
                reason: None,
                ..Decision::refused(id, "", "")
            },
            Verdict::Refused(r) => Decision {
                rule: judged_as,
                ..Decision::refused(id, r.code(), r.sentence())
            },
        }
    }

    /// Why an award must wait for review, if it must: the resident is flagged, or this report
    /// breaks a velocity limit (which flags them).
    fn hold(&mut self, resident: &Resident, source: &str) -> Option<Hold> {
        if self.flagged.contains(&resident.resident_id) {
            return Some(Hold::UnderReview);
        }
        let hold = self
            .memory
            .too_fast(&resident.resident_id, source, self.velocity)?;
        self.flagged.insert(resident.resident_id.clone());
        self.flags.push(Flag {
            resident_id: resident.resident_id.clone(),
            district: resident.district.map(|d| d.to_string()).unwrap_or_default(),
            reason_code: hold.code().to_owned(),
            reason: hold.sentence().to_owned(),
            flagged_by: "intake".to_owned(),
            at: self.now,
        });
        Some(hold)
    }
}

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    /// Decides and records the outcomes of events seen for the first time.
    /// Decides `fresh` events and, as `commit` says, records them (with the fraud flags they
    /// raise) in one transaction. `Some` outcomes when nothing was recorded.
    pub(super) async fn decide_all(
        &self,
        fresh: &[&Event],
        commit: Commit,
    ) -> Result<Option<Vec<Outcome>>> {
        let now = (self.options.clock)();
        // Who the events are about: each distinct reference asked once, all in one question.
        let refs: Vec<&ResidentRef> = fresh
            .iter()
            .map(|e| &e.resident)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let answers = self.residents.resolve_many(&refs).await?;
        if answers.len() != refs.len() {
            return Err(IntakeError::fault(
                "identity answered a different number of residents",
            ));
        }
        let residents: HashMap<&ResidentRef, Option<Resident>> =
            refs.into_iter().zip(answers).collect();

        let catalogue = self.catalogue();
        let mut decided: Vec<(&Event, Outcome)> = Vec::with_capacity(fresh.len());
        let mut to_judge = Vec::new();
        for &event in fresh {
            let Some(resident) = residents.get(&event.resident).cloned().flatten() else {
                let d = Decision::rejected(None, Rejection::ResidentUnknown);
                decided.push((event, d.record(event, now)));
                continue;
            };
            let id = Some(resident.resident_id.clone());
            let early = if resident.suspended {
                Some(Rejection::ResidentSuspended)
            } else if !resident.enrolled {
                Some(Rejection::ResidentNotEnrolled)
            } else if event.occurred_at > now + self.options.future_skew {
                Some(Rejection::OccurredInFuture)
            } else if event.occurred_at < now - self.options.window {
                Some(Rejection::TooOld)
            } else {
                None
            };
            let rule = catalogue.rule_for(&event.behaviour_code, event.district, event.occurred_at);
            let why = early.or(match rule {
                None => Some(Rejection::UnknownBehaviour),
                Some(rule) if rule.book(event.district).is_none() => {
                    Some(Rejection::DistrictRequired)
                }
                Some(_) => None,
            });
            match (why, rule) {
                (None, Some(rule)) => to_judge.push((event, resident, rule)),
                (why, _) => {
                    let why = why.unwrap_or(Rejection::UnknownBehaviour);
                    decided.push((event, Decision::rejected(id, why).record(event, now)));
                }
            }
        }
        if to_judge.is_empty() {
            if let Some(unrecorded) = commit.refuses(&decided) {
                return Ok(Some(unrecorded));
            }
            commit.stamp(&mut decided);
            return self.store.insert_all(&decided).await.map(|()| None);
        }

        let locked: BTreeSet<String> = to_judge
            .iter()
            .map(|(_, r, _)| r.resident_id.clone())
            .collect();
        let txn = self.store.for_residents(&locked).await?;
        // A concurrent submission of the same records may have decided them meanwhile.
        let keys: Vec<_> = to_judge
            .iter()
            .map(|(e, _, _)| (e.source_id.clone(), e.source_event_id.clone()))
            .collect();
        let meanwhile: HashSet<(String, String)> = txn
            .stored(&keys)
            .await?
            .into_iter()
            .map(|o| (o.source_id, o.source_event_id))
            .collect();
        to_judge.retain(|(e, _, _)| {
            !meanwhile.contains(&(e.source_id.clone(), e.source_event_id.clone()))
        });

        let residents: Vec<String> = locked.into_iter().collect();
        let mut memory = Memory {
            recent: txn
                .recent_reports(
                    &residents,
                    now - Duration::hours(1),
                    now - Duration::hours(24),
                )
                .await?,
            ..Memory::default()
        };
        for past in txn.history(&history_query(&to_judge, &residents)).await? {
            memory.learn(past);
        }
        let mut judging = Judging {
            flagged: txn.flagged(&residents).await?,
            memory,
            flags: Vec::new(),
            velocity: self.options.velocity,
            now,
        };
        for (event, resident, rule) in to_judge {
            decided.push((event, judging.decide(event, &resident, rule)));
        }
        if let Some(unrecorded) = commit.refuses(&decided) {
            // Nothing is written; the locks are released now.
            txn.rollback().await?;
            return Ok(Some(unrecorded));
        }
        commit.stamp(&mut decided);
        txn.flag(&judging.flags).await?;
        txn.commit(&decided).await.map(|()| None)
    }
}

/// Whether decided events are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    Always,
    /// Only when none of them is rejected; then as one linked group.
    UnlessRejected(Uuid),
    /// Never: the batch is refused already (all or none, and an event sent before was rejected).
    Never,
}

impl Commit {
    /// The outcomes as they would have been, when they are not to be recorded.
    fn refuses(self, decided: &[(&Event, Outcome)]) -> Option<Vec<Outcome>> {
        let refused = match self {
            Commit::Always => false,
            Commit::UnlessRejected(_) => {
                decided.iter().any(|(_, o)| o.kind == OutcomeKind::Rejected)
            }
            Commit::Never => true,
        };
        refused.then(|| decided.iter().map(|(_, o)| o.clone()).collect())
    }

    /// Marks the outcomes about to be recorded with their linked group, if any.
    fn stamp(self, decided: &mut [(&Event, Outcome)]) {
        if let Commit::UnlessRejected(group) = self {
            for (_, o) in decided {
                o.link_group = Some(group);
            }
        }
    }
}

/// What to read of the residents' history to judge `to_judge`: awards under the rules
/// involved (all of them for rules with a lifetime cap, else those that can share a period or
/// a minimum interval with the events), and earlier reports of the same facts.
fn history_query(to_judge: &[(&Event, Resident, &Rule)], residents: &[String]) -> HistoryQuery {
    let mut all_awards_of = BTreeSet::new();
    let mut recent_awards_of = BTreeSet::new();
    let mut fact_codes = BTreeSet::new();
    let mut fact_times = BTreeSet::new();
    let mut earliest = None::<DateTime<Utc>>;
    // A year and a week back covers every period an event shares with earlier awards.
    let mut reach = Duration::days(400);
    for (event, _, rule) in to_judge {
        if rule.caps.limit(Period::Lifetime).is_some() {
            all_awards_of.insert(rule.code.clone());
        } else {
            recent_awards_of.insert(rule.code.clone());
        }
        if let Some(gap) = rule.caps.min_interval_seconds {
            reach = reach.max(Duration::seconds(
                i64::try_from(gap).unwrap_or(i64::MAX / 2),
            ));
        }
        fact_codes.insert(event.behaviour_code.clone());
        fact_times.insert(event.occurred_at);
        earliest = Some(earliest.map_or(event.occurred_at, |e| e.min(event.occurred_at)));
    }
    HistoryQuery {
        residents: residents.to_vec(),
        all_awards_of: all_awards_of.into_iter().collect(),
        recent_awards_of: recent_awards_of.into_iter().collect(),
        awards_since: earliest.unwrap_or_default() - reach,
        fact_codes: fact_codes.into_iter().collect(),
        fact_times: fact_times.into_iter().collect(),
    }
}
