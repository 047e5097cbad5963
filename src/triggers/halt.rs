//! Why a running trigger ends, one enum for every part of it (the engine, the dispatcher, the
//! listener), and the waits that give way to a stop request.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

/// Why a trigger stops.
#[derive(Debug)]
pub enum Halt {
    /// Asked to (SIGTERM, SIGINT, the terminate flag): a clean stop, not an error.
    Stopped,
    /// The webhook listener's address could not be bound (in use, not this host's, no permission).
    Listen { addr: SocketAddr, cause: std::io::Error },
    /// Something the trigger cannot go on without failed.
    Failed(String),
}

impl From<std::io::Error> for Halt {
    fn from(e: std::io::Error) -> Self {
        Halt::Failed(format!("could not save the trigger state: {e}"))
    }
}

impl From<String> for Halt {
    fn from(message: String) -> Self {
        Halt::Failed(message)
    }
}

/// Resolves once the stop flag is set.
pub async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// `call`'s answer, or `Halt::Stopped` as soon as the trigger is asked to stop: a HaloITSM read
/// in flight (a slow or hung HaloITSM) never holds up a stop. Only reads go through here, so
/// abandoning one loses nothing.
pub async fn unless_stopped<T>(stop: &watch::Receiver<bool>, call: impl std::future::Future<Output = T>) -> Result<T, Halt> {
    let mut stop = stop.clone();
    tokio::select! {
        v = call => Ok(v),
        _ = until_stopped(&mut stop) => Err(Halt::Stopped),
    }
}

/// Resolves when the orchestrator asks the trigger to stop: SIGTERM/SIGINT or the flag file
/// (which is removed).
pub async fn stop_requested(flag: PathBuf) {
    let flag_seen = async {
        loop {
            if tokio::fs::try_exists(&flag).await.unwrap_or(false) {
                let _ = tokio::fs::remove_file(&flag).await;
                tracing::info!("Found the terminate flag; saving state and stopping");
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        _ = crate::front_door::termination_signal() => tracing::info!("Stop signal received; saving state and stopping"),
        _ = flag_seen => {}
    }
}
