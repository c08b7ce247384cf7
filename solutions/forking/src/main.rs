//! The forking server: a process per connection.
//!
//! Run it with `cargo run -p solution-forking` and talk to it with `nc 127.0.0.1 7878`; watch
//! its children come and go with `ps -o pid,ppid,stat,rss,cmd --ppid PID`.

fn main() -> std::io::Result<()> {
    let listener = workbook_kit::listen()?;
    solution_forking::serve(listener)
}
