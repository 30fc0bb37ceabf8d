//! The load generator of the end-to-end benchmark (`benches/e2e/run.sh`): HTTP/1.1 keep-alive
//! connections to one address, sending Converse or ConverseStream calls.
//!
//! Why not only wrk/oha: the benchmark also needs fixed-rate runs whose latency is counted from the
//! moment each request was *due* (so a stalled proxy cannot hide its queue: no coordinated omission),
//! the time to a stream's first event, and 1,000 streams held open at once; one small client does
//! all of it the same way for the three paths.
//!
//! ```text
//! bench_load saturate     --addr A --path P [--conns 64] [--secs 10] [--stream]
//! bench_load rate         --addr A --path P --rps 1000 [--conns 64] [--secs 10] [--stream]
//! bench_load open-streams --addr A --path P [--n 1000] --pid PID
//! bench_load startup      --addr A [--runs 5] -- COMMAND ARGS...
//! bench_load policy       --n 10000      (prints an IAM policy with that many statements)
//! ```
//!
//! Each prints one line of `key=value` pairs (latencies in microseconds, RSS in kB).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

const CONVERSE_BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"Say hello in one short sentence."}]}],"inferenceConfig":{"maxTokens":64}}"#;

#[derive(Debug, Clone)]
struct Args {
    addr: SocketAddr,
    path: String,
    conns: usize,
    secs: f64,
    rps: f64,
    stream: bool,
    n: usize,
    pid: u32,
    runs: usize,
    command: Vec<String>,
}

fn parse_args() -> (String, Args) {
    let mut argv = std::env::args().skip(1);
    let mode = argv
        .next()
        .expect("a mode: saturate, rate, open-streams, startup");
    let mut args = Args {
        addr: "127.0.0.1:0".parse().unwrap(),
        path: String::new(),
        conns: 64,
        secs: 10.0,
        rps: 0.0,
        stream: false,
        n: 1000,
        pid: 0,
        runs: 5,
        command: Vec::new(),
    };
    while let Some(flag) = argv.next() {
        let mut value = || {
            argv.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => args.addr = value().parse().expect("--addr HOST:PORT"),
            "--path" => args.path = value(),
            "--conns" => args.conns = value().parse().unwrap(),
            "--secs" => args.secs = value().parse().unwrap(),
            "--rps" => args.rps = value().parse().unwrap(),
            "--n" => args.n = value().parse().unwrap(),
            "--pid" => args.pid = value().parse().unwrap(),
            "--runs" => args.runs = value().parse().unwrap(),
            "--stream" => args.stream = true,
            "--" => {
                args.command = argv.by_ref().collect();
                break;
            }
            other => panic!("unknown flag {other}"),
        }
    }
    (mode, args)
}

fn main() {
    let (mode, args) = parse_args();
    if mode == "startup" {
        startup(&args);
        return;
    }
    if mode == "policy" {
        println!("{}", policy(args.n));
        return;
    }
    // One worker thread: the machine has two cores, shared with the proxy and the double.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        match mode.as_str() {
            "saturate" => saturate(args).await,
            "rate" => rate(args).await,
            "open-streams" => open_streams(args).await,
            other => panic!("unknown mode {other}"),
        }
    });
}

/// One keep-alive connection.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Conn {
            sender,
            host: addr.to_string(),
        })
    }

    /// Sends one call; returns (time to the first body byte, time to the end) from `start`.
    async fn call(&mut self, path: &str, start: Instant) -> Result<(Duration, Duration), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let request = Request::post(path)
            .header(http::header::HOST, &self.host)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(CONVERSE_BODY.as_bytes())))
            .unwrap();
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let mut body = response.into_body();
        let mut first = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if first.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
                first = Some(start.elapsed());
            }
        }
        let end = start.elapsed();
        if status != StatusCode::OK {
            return Err(format!("status {status}"));
        }
        Ok((first.unwrap_or(end), end))
    }
}

#[derive(Default)]
struct Samples {
    ttfb: Vec<u32>,
    total: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.ttfb.extend(other.ttfb);
        self.total.extend(other.total);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn record(&mut self, result: Result<(Duration, Duration), String>) {
        match result {
            Ok((ttfb, total)) => {
                self.ttfb.push(ttfb.as_micros() as u32);
                self.total.push(total.as_micros() as u32);
            }
            Err(err) => {
                self.errors += 1;
                self.first_error.get_or_insert(err);
            }
        }
    }

    fn report(mut self, elapsed: Duration, extra: &str) {
        self.ttfb.sort_unstable();
        self.total.sort_unstable();
        let q = |v: &[u32], p: f64| -> u32 {
            if v.is_empty() {
                return 0;
            }
            v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
        };
        let t = &self.total;
        let f = &self.ttfb;
        println!(
            "{extra}requests={} errors={} rps={:.0} p50_us={} p99_us={} p999_us={} max_us={} ttfb_p50_us={} ttfb_p99_us={} ttfb_p999_us={}{}",
            t.len(),
            self.errors,
            t.len() as f64 / elapsed.as_secs_f64(),
            q(t, 0.50),
            q(t, 0.99),
            q(t, 0.999),
            t.last().copied().unwrap_or(0),
            q(f, 0.50),
            q(f, 0.99),
            q(f, 0.999),
            self.first_error.map(|e| format!(" first_error={e:?}")).unwrap_or_default(),
        );
    }
}

/// Closed loop: every connection sends its next call as soon as the previous one ends.
async fn saturate(args: Args) {
    let deadline = Instant::now() + Duration::from_secs_f64(args.secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.conns {
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut conn = None;
            while Instant::now() < deadline {
                if conn.is_none() {
                    conn = Conn::open(args.addr).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    samples.record(Err("connect failed".into()));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let result = c.call(&args.path, Instant::now()).await;
                if result.is_err() {
                    conn = None;
                }
                samples.record(result);
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await.unwrap());
    }
    all.report(started.elapsed(), "mode=saturate ");
}

/// Open loop at a fixed rate: a pacing thread (OS sleep, finer than tokio's millisecond timer) releases
/// one due time per request; a free connection takes it. Latency counts from the due time, so time a
/// request spends waiting for a busy proxy is counted, as a real client at that rate would see it.
async fn rate(args: Args) {
    let (due_tx, due_rx) = mpsc::unbounded_channel::<Instant>();
    let due_rx = Arc::new(Mutex::new(due_rx));
    let total = (args.rps * args.secs) as u64;
    // Connect everything first: set-up is not part of the measured window.
    let mut conns = Vec::new();
    for _ in 0..args.conns {
        conns.push(Conn::open(args.addr).await.expect("connect"));
    }
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rps);
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let due = started + interval.mul_f64(i as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if due_tx.send(due).is_err() {
                return;
            }
        }
    });
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (due_rx, path, addr, sent, done) = (
            due_rx.clone(),
            args.path.clone(),
            args.addr,
            sent.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            loop {
                let due = { due_rx.lock().await.recv().await };
                let Some(due) = due else { break };
                sent.fetch_add(1, Ordering::Relaxed);
                let result = conn.call(&path, due).await;
                if result.is_err() {
                    if let Ok(fresh) = Conn::open(addr).await {
                        conn = fresh;
                    }
                }
                samples.record(result);
                if done.load(Ordering::Relaxed) {
                    break;
                }
            }
            samples
        }));
    }
    pacer.join().unwrap();
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    all.report(
        started.elapsed(),
        &format!("mode=rate target_rps={} ", args.rps),
    );
}

/// Opens `n` streams on `n` connections, waits for each one's first event, then reads the RSS of `pid`
/// while they are all open.
async fn open_streams(args: Args) {
    let before = rss_kb(args.pid);
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.n {
        let (ready, release, args) = (ready.clone(), release.clone(), args.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut conn) = Conn::open(args.addr).await else {
                ready.add_permits(1);
                return false;
            };
            conn.sender.ready().await.ok();
            let request = Request::post(args.path.as_str())
                .header(http::header::HOST, &conn.host)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from_static(CONVERSE_BODY.as_bytes())))
                .unwrap();
            let ok = match conn.sender.send_request(request).await {
                Ok(response) if response.status() == StatusCode::OK => {
                    let mut body = response.into_body();
                    let first = body.frame().await.is_some_and(|f| f.is_ok());
                    ready.add_permits(1);
                    // Hold the stream (and its connection) open until the RSS has been read.
                    release.notified().await;
                    drop(body);
                    first
                }
                _ => {
                    ready.add_permits(1);
                    false
                }
            };
            drop(conn);
            ok
        }));
    }
    let _all = ready.acquire_many(args.n as u32).await.unwrap();
    let opened_in = started.elapsed();
    // Let the proxy settle (allocator, buffers) before sampling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = rss_kb(args.pid);
    release.notify_waiters();
    let mut open = 0;
    for task in tasks {
        if task.await.unwrap() {
            open += 1;
        }
    }
    println!(
        "mode=open-streams streams={} open_ok={open} opened_in_ms={} rss_before_kb={before} rss_open_kb={during}",
        args.n,
        opened_in.as_millis()
    );
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Time from spawning the command to its listening port accepting a TCP connection, `runs` times.
fn startup(args: &Args) {
    let mut times = Vec::new();
    let mut idle_rss = Vec::new();
    for _ in 0..args.runs {
        // Something already listening there would be timed instead of the command.
        assert!(
            std::net::TcpStream::connect(args.addr).is_err(),
            "{} already accepts connections: stop what listens there first",
            args.addr
        );
        let started = Instant::now();
        let mut child = Command::new(&args.command[0])
            .args(&args.command[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the command");
        let elapsed = loop {
            if std::net::TcpStream::connect(args.addr).is_ok() {
                break started.elapsed();
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > Duration::from_secs(30) {
                // Never leave it behind to answer the next run in its place.
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{:?} did not listen on {} (exited: {exited:?}, after {:?})",
                    args.command,
                    args.addr,
                    started.elapsed()
                );
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        times.push(elapsed.as_micros() as u64);
        // Idle: started, nothing served yet apart from the probe connection.
        std::thread::sleep(Duration::from_millis(300));
        idle_rss.push(rss_kb(child.id()));
        let _ = child.kill();
        let _ = child.wait();
    }
    times.sort_unstable();
    println!(
        "mode=startup runs={} startup_median_us={} startup_max_us={} rss_idle_kb={}",
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1],
        idle_rss.iter().max().copied().unwrap_or(0),
    );
}

/// An identity policy with `n` statements, the worst case for an engine that scans: `n - 1` Deny
/// statements on other model families (every third one with a condition), none of which match the
/// benchmark's model, then the one Allow that does, last.
fn policy(n: usize) -> String {
    let mut statements = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        let condition = if i % 3 == 0 {
            format!(r#","Condition":{{"StringEquals":{{"aws:RequestedRegion":"eu-west-{i}"}}}}"#)
        } else {
            String::new()
        };
        statements.push(format!(
            r#"{{"Sid":"DenyVendor{i}","Effect":"Deny","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":["arn:aws:bedrock:*::foundation-model/vendor{i}.*","arn:aws:bedrock:*:*:inference-profile/*.vendor{i}.*"]{condition}}}"#
        ));
    }
    statements.push(
        r#"{"Sid":"AllowInference","Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":["arn:aws:bedrock:*::foundation-model/*","arn:aws:bedrock:*:*:inference-profile/*"]}"#
            .to_owned(),
    );
    format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[\n{}\n]}}",
        statements.join(",\n")
    )
}
