//! A small reproducible generator (a linear congruential one): the same seed gives the same
//! data, so a failure can be replayed.

/// The generator's state.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    /// `len` random bytes, any value but `\n`: a line's body over the contract's whole range.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.below(256) as u8 {
                b'\n' => b'\r',
                byte => byte,
            })
            .collect()
    }

    /// `len` random printable ASCII bytes: text a canned reply cannot guess, which a server
    /// with a bug in binary data (caught by the `binary` check) still echoes.
    pub fn text(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b' ' + self.below(95) as u8).collect()
    }

    /// A random length in `1..=most`, spread over every order of magnitude (short ones far
    /// more often than long ones).
    pub fn length(&mut self, most: usize) -> usize {
        let most = most.max(1);
        let scale = 1 + self.below(most.ilog2() as usize + 1);
        1 + self.below((1usize << scale).min(most))
    }

    /// A line of random text, `1..=most` bytes before its `\n`.
    pub fn line(&mut self, most: usize) -> Vec<u8> {
        let len = self.length(most);
        let mut line = self.text(len);
        line.push(b'\n');
        line
    }

    /// A line of random bytes over the whole allowed range, `1..=most` before its `\n`.
    pub fn binary_line(&mut self, most: usize) -> Vec<u8> {
        let len = self.length(most);
        let mut line = self.bytes(len);
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_lines_are_lines_within_the_limit() {
        let mut rng = Rng::new(7);
        let lines: Vec<Vec<u8>> = (0..2000).map(|_| rng.binary_line(65_535)).collect();
        for line in &lines {
            assert!(line.len() >= 2 && line.len() <= 65_536, "{}", line.len());
            assert_eq!(line.iter().position(|&b| b == b'\n'), Some(line.len() - 1));
        }
        assert!(lines.iter().any(|l| l.len() > 10_000), "long lines too");
        assert!(lines.iter().any(|l| l.len() < 10), "short lines too");
        assert!(lines.iter().any(|l| l.contains(&0) || l.contains(&0xff)));
        let text = rng.line(100);
        assert!(text[..text.len() - 1]
            .iter()
            .all(|b| (b' '..=b'~').contains(b)));
    }
}
