//! `shiftmesh-bench-samod DOCUMENT RUNS`: the fresh-node catch-up done with samod, the Rust
//! automerge-repo, so that shiftmesh's figure has a peer beside it.
//!
//! For each run a samod repo that holds the document (loaded from DOCUMENT, a shiftmesh backup)
//! accepts a TCP connection on 127.0.0.1 from a new, empty repo, which then looks the document up
//! by id. The time runs from building the empty repo until its copy has the same heads as the
//! full one; the bytes are everything that crossed the TCP connection, both ways. Prints one
//! line per run: `micros bytes`.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use samod::tokio_io::TcpDialer;
use samod::{BackoffConfig, Repo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How long one run may take before the benchmark reports a failure.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// How often the copy's heads are compared with the original's.
const HEADS_POLL: Duration = Duration::from_millis(1);

/// A TCP stream that adds every byte read or written to a shared counter.
struct Counted {
    inner: TcpStream,
    bytes: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.bytes.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(written)) = &polled {
            self.bytes.fetch_add(*written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, runs] = args.as_slice() else {
        bail!("usage: shiftmesh-bench-samod DOCUMENT RUNS");
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    let runs: usize = runs.parse().context("RUNS is a number")?;
    for _ in 0..runs {
        let (time, moved) = tokio::time::timeout(RUN_LIMIT, catch_up(&bytes))
            .await
            .context("a samod catch-up took longer than the limit")??;
        println!("{} {moved}", time.as_micros());
    }
    Ok(())
}

async fn catch_up(bytes: &[u8]) -> anyhow::Result<(Duration, u64)> {
    let full = Repo::build_tokio().load().await;
    let original = full
        .create(automerge::Automerge::load(bytes)?)
        .await
        .map_err(|_| anyhow::anyhow!("the full repo stopped"))?;
    let target = original.with_document(|doc| doc.get_heads());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let acceptor = full.make_acceptor(samod::Url::parse("tcp://127.0.0.1/")?)?;
    let moved = Arc::new(AtomicU64::new(0));
    let counter = moved.clone();
    let server = tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            let _ = acceptor.accept_tokio_io(Counted {
                inner: stream,
                bytes: counter,
            });
        }
    });

    let started = Instant::now();
    let empty = Repo::build_tokio().load().await;
    let dialer = TcpDialer::new_host_port("127.0.0.1".into(), port);
    let connection = empty
        .dial(BackoffConfig::default(), Arc::new(dialer))
        .map_err(|_| anyhow::anyhow!("the empty repo stopped"))?;
    connection
        .established()
        .await
        .map_err(|_| anyhow::anyhow!("could not connect to the full repo"))?;
    let copy = empty
        .find(original.document_id().clone())
        .await
        .map_err(|_| anyhow::anyhow!("the empty repo stopped"))?
        .context("the full repo did not share the document")?;
    while copy.with_document(|doc| doc.get_heads()) != target {
        tokio::time::sleep(HEADS_POLL).await;
    }
    let time = started.elapsed();
    let total = moved.load(Ordering::Relaxed);
    server.abort();
    empty.stop().await;
    full.stop().await;
    Ok((time, total))
}
