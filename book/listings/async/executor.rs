//! What an async runtime is, at its smallest: futures, wakers, an executor and a reactor
//! over the epoll chapter's loop, serving an echo with a task per connection on one thread.
//! Not the exercise, which uses tokio: no timers, no work stealing, one thread (M tasks on
//! one thread; tokio runs the same loop on N).
//! Run it with `cargo run -q -p book-listings --bin async-executor`.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

// ANCHOR: reactor
/// The reactor: an epoll instance, and for each descriptor a task waits on, its waker.
struct Reactor {
    epoll: Epoll,
    wakers: Mutex<HashMap<u64, Waker>>,
}

impl Reactor {
    /// Wakes `waker` once `fd` is ready for `interest`: one-shot, so that each wait is asked
    /// for anew by the future that needs it.
    fn wake_when(&self, fd: &impl AsFd, interest: EpollFlags, waker: Waker) -> io::Result<()> {
        let token = fd.as_fd().as_raw_fd() as u64;
        self.wakers.lock().unwrap().insert(token, waker);
        let mut event = EpollEvent::new(interest | EpollFlags::EPOLLONESHOT, token);
        match self.epoll.modify(fd, &mut event) {
            Err(Errno::ENOENT) => self.epoll.add(fd, event)?, // first time for this fd
            other => other?,
        }
        Ok(())
    }

    /// One turn of the epoll chapter's loop: wait for readiness, and wake whoever waits.
    fn turn(&self) -> io::Result<()> {
        let mut events = [EpollEvent::empty(); 64];
        let n = self.epoll.wait(&mut events, EpollTimeout::NONE)?;
        for event in &events[..n] {
            if let Some(waker) = self.wakers.lock().unwrap().remove(&event.data()) {
                waker.wake();
            }
        }
        Ok(())
    }
}
// ANCHOR_END: reactor

// ANCHOR: io
/// The one leaf future everything here is built on: tries the non-blocking `op` and, while
/// it says `WouldBlock`, leaves the waker with the reactor and returns `Pending`.
async fn io<T>(
    reactor: &Reactor,
    fd: &impl AsFd,
    interest: EpollFlags,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    poll_fn(|cx: &mut Context<'_>| match op() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            match reactor.wake_when(fd, interest, cx.waker().clone()) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            }
        }
        done => Poll::Ready(done),
    })
    .await
}
// ANCHOR_END: io

// ANCHOR: executor
/// A task: a future, pinned in a box, and the run queue it goes back on when woken.
struct Task {
    future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    queue: Sender<Arc<Task>>,
}

/// Waking a task is putting it back on the run queue.
impl Wake for Task {
    fn wake(self: Arc<Self>) {
        let queue = self.queue.clone();
        let _ = queue.send(self);
    }
}

/// Starts tasks: a handle on the run queue, and a count of the tasks not yet done.
#[derive(Clone)]
struct Spawner {
    queue: Sender<Arc<Task>>,
    alive: Arc<AtomicUsize>,
}

impl Spawner {
    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.alive.fetch_add(1, Ordering::SeqCst);
        let task = Task {
            future: Mutex::new(Some(Box::pin(future))),
            queue: self.queue.clone(),
        };
        let _ = self.queue.send(Arc::new(task));
    }
}

/// The executor: polls every task that is ready, and when none is, turns the reactor. Ends
/// when every task is done.
fn run(ready: Receiver<Arc<Task>>, spawner: &Spawner, reactor: &Reactor) -> io::Result<()> {
    while spawner.alive.load(Ordering::SeqCst) > 0 {
        while let Ok(task) = ready.try_recv() {
            let waker = Waker::from(task.clone());
            let mut slot = task.future.lock().unwrap();
            let Some(future) = slot.as_mut() else {
                continue; // done already: a stale wake-up
            };
            if future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                *slot = None;
                spawner.alive.fetch_sub(1, Ordering::SeqCst);
            }
        }
        if spawner.alive.load(Ordering::SeqCst) > 0 {
            reactor.turn()?;
        }
    }
    Ok(())
}
// ANCHOR_END: executor

// ANCHOR: tasks
/// Accepts `clients` connections, a task for each.
async fn accept(reactor: Arc<Reactor>, spawner: Spawner, listener: TcpListener, clients: usize) {
    for _ in 0..clients {
        let accepted = io(&reactor, &listener, EpollFlags::EPOLLIN, || {
            listener.accept()
        })
        .await;
        if let Ok((stream, _)) = accepted {
            let _ = stream.set_nonblocking(true);
            spawner.spawn(echo_line(reactor.clone(), stream));
        }
    }
}

/// Reads one line and echoes it: the code reads top to bottom, and every `.await` is a
/// place where the task may give its thread back.
async fn echo_line(reactor: Arc<Reactor>, mut stream: TcpStream) {
    let mut line = Vec::new();
    let mut buf = [0u8; 256];
    while !line.ends_with(b"\n") {
        match io(&reactor, &stream, EpollFlags::EPOLLIN, || {
            (&stream).read(&mut buf)
        })
        .await
        {
            Ok(0) | Err(_) => return,
            Ok(n) => line.extend_from_slice(&buf[..n]),
        }
    }
    let _ = stream.write_all(&line); // a line is small: the socket takes it whole
}
// ANCHOR_END: tasks

/// Serves `clients` echo connections on this thread, while a client thread talks to it;
/// returns what the clients got back.
fn serve(clients: usize) -> io::Result<Vec<String>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let talk = std::thread::spawn(move || -> io::Result<Vec<String>> {
        let mut streams = (1..=clients)
            .map(|_| TcpStream::connect(addr))
            .collect::<io::Result<Vec<_>>>()?;
        // Replies in reverse order: each task waits on its own socket, none on another's.
        for (i, s) in streams.iter_mut().enumerate().rev() {
            writeln!(s, "hello from client {}", i + 1)?;
        }
        streams.iter_mut().map(read_to_string).collect()
    });
    let reactor = Arc::new(Reactor {
        epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
        wakers: Mutex::new(HashMap::new()),
    });
    let (queue, ready) = channel();
    let spawner = Spawner {
        queue,
        alive: Arc::new(AtomicUsize::new(0)),
    };
    spawner.spawn(accept(reactor.clone(), spawner.clone(), listener, clients));
    run(ready, &spawner, &reactor)?;
    talk.join().expect("the client thread panicked")
}

fn read_to_string(stream: &mut TcpStream) -> io::Result<String> {
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

fn main() -> io::Result<()> {
    for echo in serve(3)? {
        print!("echoed: {echo}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_task_echoes_its_own_line() {
        let got = super::serve(20).unwrap();
        for (i, echo) in got.iter().enumerate() {
            assert_eq!(echo, &format!("hello from client {}\n", i + 1));
        }
    }
}
