//! Real git repositories for the deployment tests, made in temporary directories.

use std::path::Path;
use std::process::Command;

pub struct GitRepo {
    dir: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl GitRepo {
    /// A repository (under the temp directory, where test apps allow file:// URLs) whose
    /// `main` branch has one commit with `files`.
    pub fn new(files: &[(&str, &str)]) -> GitRepo {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--quiet", "--initial-branch=main"]);
        let repo = GitRepo { dir };
        repo.commit(
            files,
            "Initial commit",
            "Taylor Otwell",
            "taylor@example.com",
        );
        repo
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// Writes `files` and commits them; answers the new commit's hash.
    pub fn commit(
        &self,
        files: &[(&str, &str)],
        message: &str,
        author: &str,
        email: &str,
    ) -> String {
        for (path, contents) in files {
            let full = self.dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, contents).unwrap();
        }
        git(self.dir.path(), &["add", "--all"]);
        git(
            self.dir.path(),
            &[
                "-c",
                &format!("user.name={author}"),
                "-c",
                &format!("user.email={email}"),
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                message,
            ],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git(self.dir.path(), &["rev-parse", "HEAD"])
    }

    pub fn tag(&self, name: &str) {
        git(self.dir.path(), &["tag", name]);
    }

    pub fn checkout_new_branch(&self, name: &str) {
        git(self.dir.path(), &["checkout", "--quiet", "-b", name]);
    }

    /// Lets `edit` change the working tree as it likes (delete, rename, chmod, links), then
    /// commits everything; answers the new commit's hash.
    pub fn change(&self, message: &str, edit: impl FnOnce(&Path)) -> String {
        edit(self.dir.path());
        self.commit(&[], message, "Eve", "eve@example.com")
    }
}
