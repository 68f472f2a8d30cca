//! Remote commands' output on one channel: [`collect`] gathers a command's
//! stdout, stderr and exit status with a cap on each stream (a remote that
//! prints without end cannot grow the witness), and [`ExecStream`] hands a
//! long-lived command's output over as it comes. Opening the channel and the
//! deadline are `session`'s.

use russh::client::Msg;
use russh::{Channel, ChannelMsg};

use super::session::SshError;

/// The most [`collect`] keeps of each of stdout and stderr: 1 MiB.
pub const MAX_EXEC_OUTPUT: usize = 1024 * 1024;

/// The result of one remote command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status; None if the command died by a signal or sent none.
    pub status: Option<u32>,
    /// Signal name if the command was killed by one.
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// One event from a long-lived exec stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(u32),
    Signal(String),
}

/// A remote command whose output is read as it comes (the reader bounds
/// what it keeps).
pub struct ExecStream {
    channel: Channel<Msg>,
}

impl ExecStream {
    pub(super) fn new(channel: Channel<Msg>) -> ExecStream {
        ExecStream { channel }
    }

    /// The next output chunk or exit notice; None once the channel closed.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        loop {
            match self.channel.wait().await? {
                ChannelMsg::Data { data } => return Some(StreamEvent::Stdout(data.to_vec())),
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    return Some(StreamEvent::Stderr(data.to_vec()))
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    return Some(StreamEvent::Exit(exit_status))
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    return Some(StreamEvent::Signal(format!("{signal_name:?}")))
                }
                _ => continue,
            }
        }
    }

    /// Send data to the command's stdin.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), russh::Error> {
        self.channel.data(data).await
    }

    /// Close the channel (the remote command gets SIGHUP/EOF).
    pub async fn close(self) {
        let _ = self.channel.eof().await;
        let _ = self.channel.close().await;
    }
}

/// Read `ch` until it closes: its output (at most [`MAX_EXEC_OUTPUT`] bytes
/// of each stream) and exit status. Past the cap the channel is closed and
/// the result is [`SshError::OutputTooLarge`] naming `alias` and `cmd`.
pub(super) async fn collect(
    ch: &mut Channel<Msg>,
    alias: &str,
    cmd: &str,
) -> Result<Output, SshError> {
    let mut out = Output::default();
    while let Some(msg) = ch.wait().await {
        let (buf, data, stream) = match msg {
            ChannelMsg::Data { data } => (&mut out.stdout, data, "stdout"),
            ChannelMsg::ExtendedData { data, ext: 1 } => (&mut out.stderr, data, "stderr"),
            ChannelMsg::ExitStatus { exit_status } => {
                out.status = Some(exit_status);
                continue;
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                out.signal = Some(format!("{signal_name:?}"));
                continue;
            }
            _ => continue,
        };
        if buf.len() + data.len() > MAX_EXEC_OUTPUT {
            let _ = ch.close().await;
            return Err(SshError::OutputTooLarge {
                alias: alias.to_string(),
                cmd: cmd.to_string(),
                stream,
            });
        }
        buf.extend_from_slice(&data);
    }
    Ok(out)
}
