//! The budget on tokio's paused clock: admissions are counted at exact virtual instants.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

const S: Duration = Duration::from_secs(1);

/// When each request was let through, and when it was answered.
type Log = Arc<StdMutex<Vec<(Instant, Instant)>>>;

async fn request(b: &Budget, log: &Log, latency: Duration) {
    let p = b.acquire(Instant::now() + S * 3600).await.expect("within the deadline");
    let sent = Instant::now();
    tokio::time::sleep(latency).await;
    log.lock().unwrap().push((sent, Instant::now()));
    p.answered();
}

/// `n` callers of `b` at once, each answered after `latency`; the log once all are done.
async fn callers(b: &Arc<Budget>, n: usize, latency: Duration) -> Vec<(Instant, Instant)> {
    let log: Log = Default::default();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (b, log) = (b.clone(), log.clone());
            tokio::spawn(async move { request(&b, &log, latency).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    log.lock().unwrap().to_vec()
}

#[tokio::test(start_paused = true)]
async fn fifty_callers_keep_to_a_configured_window_together() {
    let b = Arc::new(Budget::new(Some(RateLimit { requests: 10, window: S })));
    let t0 = Instant::now();
    let log = callers(&b, 50, Duration::from_millis(30)).await;
    assert_eq!(log.len(), 50);
    // HaloITSM counts a request somewhere between its sending and its answer: any window that
    // could hold more than 10 of ours would let it count 11.
    for (i, (_, answered)) in log.iter().enumerate() {
        let within = log.iter().skip(i + 1).filter(|(sent, _)| *sent < *answered + S).count();
        assert!(within < 10, "request {i}: {within} more sent within a window of its answer");
    }
    let took = Instant::now() - t0;
    assert!(took < S * 5, "five windows' worth, not more: {took:?}");
    assert_eq!(b.stats(), Stats { sent: 50, throttled: 0, pauses: 0 });
}

#[tokio::test(start_paused = true)]
async fn after_a_429_one_request_probes_and_the_rest_wait_for_it() {
    let b = Arc::new(Budget::new(None));
    let t0 = Instant::now();
    let deadline = t0 + S * 3600;
    // Ten requests in flight together; HaloITSM answers all of them 429, asking for 5 s.
    let permits: Vec<_> = futures::future::join_all((0..10).map(|_| b.acquire(deadline))).await;
    let mut probers = Vec::new();
    for p in permits {
        if let Next::Probe(p) = p.unwrap().throttled(Some(S * 5)) {
            probers.push(p);
        }
    }
    assert_eq!(probers.len(), 1, "the first 429 makes the prober; the others queue");
    let admitted: Log = Default::default();
    let waiters: Vec<_> = (0..9)
        .map(|_| {
            let (b, admitted) = (b.clone(), admitted.clone());
            tokio::spawn(async move { request(&b, &admitted, Duration::ZERO).await })
        })
        .collect();
    tokio::time::sleep(S * 4).await;
    assert!(admitted.lock().unwrap().is_empty(), "nothing goes during the pause");
    let probe = b.probe(probers.pop().unwrap(), deadline).await.unwrap();
    assert_eq!(Instant::now(), t0 + S * 5, "the probe goes when HaloITSM asked");
    tokio::time::sleep(S * 10).await;
    assert!(admitted.lock().unwrap().is_empty(), "the line waits for the probe's answer, however long it takes");
    probe.answered();
    for w in waiters {
        w.await.unwrap();
    }
    assert_eq!(admitted.lock().unwrap().len(), 9);
    assert_eq!(b.stats(), Stats { sent: 20, throttled: 10, pauses: 1 });
    assert!(b.learned_rate().is_some(), "the connection is paced from now on");
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_fails_at_once_saying_when_to_retry() {
    let b = Budget::new(None);
    let t0 = Instant::now();
    let Next::Probe(prober) = b.acquire(t0 + S).await.unwrap().throttled(Some(S * 100)) else { panic!("the first 429 probes") };
    match b.acquire(t0 + S * 10).await {
        Err(HaloError::RateLimitWait { retry_in: Some(d), .. }) => assert_eq!(d, S * 100),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("let through during the pause"),
    }
    assert_eq!(Instant::now(), t0, "no waiting for a wait that cannot be kept");
    drop(prober);
    // The prober gave up: once the pause is over, the next in line probes in its place.
    tokio::time::sleep(S * 100).await;
    let p = b.acquire(Instant::now() + S).await.unwrap();
    assert!(p.probe, "the head of the line took over the probe");
    p.answered();
    assert!(b.state().learner.pause.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_learned_pace_is_kept_by_every_caller() {
    let b = Arc::new(Budget::new(None));
    b.state().learner.rate = Some(10.0);
    let t0 = Instant::now();
    let mut sent: Vec<Instant> = callers(&b, 40, Duration::from_millis(200)).await.iter().map(|(s, _)| *s).collect();
    sent.sort();
    for pair in sent.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(95),
            "spaced at about 10 a second (each answer adds 0.05%): {:?}",
            pair[1] - pair[0]
        );
    }
    assert!(Instant::now() - t0 < S * 5, "40 at 10 a second, plus one answer");
}
