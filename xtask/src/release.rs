//! `cargo xtask release <version> [--execute]`: cut a release of every publishable crate.
//!
//! 1. Validate `<version>`: SemVer, no build metadata, greater than the workspace version
//!    (or equal to it: a re-run of an interrupted release).
//! 2. Bump `[workspace.package] version` and the `version` of every internal
//!    `[workspace.dependencies]` entry in the root `Cargo.toml` (and any member that sets its
//!    own `[package] version`), then refresh `Cargo.lock`; `cargo metadata` must then report
//!    the new version for every publishable crate and a requirement matching it on every
//!    internal dependency.
//! 3. Add a `## [<version>]` section to `CHANGELOG.md` from the commits since the previous
//!    `v*` tag (all history without one), grouped by Conventional Commit type when a commit
//!    has one; entries under `## [Unreleased]` move into the new section.
//! 4. `cargo package` every publishable crate in one invocation, in dependency order: cargo
//!    verifies each against a local registry overlay of the others, so crates whose
//!    workspace dependencies are not on crates.io yet still verify.
//!
//! Without `--execute` (the default) all of this happens in a temporary `git worktree` of
//! `HEAD`, removed afterwards: the working tree, the index and the refs are untouched, so
//! running it any number of times is harmless. With `--execute` the edits are made in the
//! working tree (which must be clean), committed as `release: v<version>`, tagged
//! `v<version>` (annotated), and every crate is published with `cargo publish` in the same
//! order. Each step is skipped when already done (version already bumped, changelog section
//! present, tag on `HEAD`, crate version already on crates.io), so an interrupted release
//! is finished by running the same command again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use semver::{Version, VersionReq};
use serde_json::Value;
use xshell::{Shell, cmd};

const CHANGELOG: &str = "CHANGELOG.md";
/// Subject prefix of the commit `--execute` makes; such commits stay out of the changelog.
const RELEASE_COMMIT_PREFIX: &str = "release: v";

pub(crate) fn run(sh: &Shell, args: &[&str]) -> Result<()> {
    let (version, execute) = match args {
        [version] => (*version, false),
        [version, "--execute"] | ["--execute", version] => (*version, true),
        _ => bail!("usage: cargo xtask release <version> [--execute]"),
    };
    let started = Instant::now();
    let version = parse_version(version)?;
    let root = sh.current_dir();
    if execute {
        execute_release(sh, &version)?;
    } else {
        dry_run(sh, &root, &version)?;
    }
    println!("\nxtask release: finished in {:.1?}", started.elapsed());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The two modes.
// ---------------------------------------------------------------------------------------

fn dry_run(sh: &Shell, root: &Path, version: &Version) -> Result<()> {
    if !cmd!(sh, "git status --porcelain").read()?.trim().is_empty() {
        println!(
            "note: the working tree has uncommitted changes; the dry run releases HEAD \
             without them"
        );
    }
    // Builds go to the workspace's own target directory, so a second dry run is quick.
    let target_dir = Workspace::load(sh)?.target_dir.join("release-check");
    let temp = sh.create_temp_dir()?;
    let tree = temp.path().join("tree");
    let _worktree = TempWorktree::add(sh, root, &tree)?;
    let _dir = sh.push_dir(&tree);
    let plan = prepare(sh, version)?;
    print_plan(&plan);
    println!("\n==> changes (in the temporary worktree)");
    cmd!(sh, "git --no-pager diff --stat").run()?;
    package(sh, &plan.order, version, &target_dir)?;
    println!(
        "\ndry run: nothing was changed. `cargo xtask release {version} --execute` commits, \
         tags v{version} and publishes {} crates in this order.",
        plan.order.len()
    );
    Ok(())
}

fn execute_release(sh: &Shell, version: &Version) -> Result<()> {
    if !cmd!(sh, "git status --porcelain").read()?.trim().is_empty() {
        bail!("the working tree has uncommitted changes: commit or stash them first");
    }
    let tag = format!("v{version}");
    let head = cmd!(sh, "git rev-parse HEAD").read()?;
    let tag_commit = format!("{tag}^{{commit}}");
    let tagged = cmd!(sh, "git rev-parse --verify --quiet {tag_commit}")
        .ignore_status()
        .read()?;
    let target_dir = Workspace::load(sh)?.target_dir.join("release-check");
    let plan = prepare(sh, version)?;
    print_plan(&plan);
    let changed = !cmd!(sh, "git status --porcelain").read()?.trim().is_empty();
    if !tagged.is_empty() && (changed || tagged != head) {
        bail!(
            "tag {tag} already exists at {tagged}, but HEAD ({head}) is not that release; \
             revert the edits (`git checkout -- .`) and look into it"
        );
    }
    if let Err(error) = package(sh, &plan.order, version, &target_dir) {
        if changed {
            eprintln!(
                "the version bump and changelog are left in the working tree; \
                 `git checkout -- .` reverts them"
            );
        }
        return Err(error);
    }
    if changed {
        cmd!(sh, "git add --all").run()?;
        let message = format!("{RELEASE_COMMIT_PREFIX}{version}");
        cmd!(sh, "git commit --quiet -m {message}").run()?;
        println!("committed `{message}`");
    }
    if tagged.is_empty() {
        let message = format!("orchestra-llm {version}");
        cmd!(sh, "git tag --annotate {tag} -m {message}").run()?;
        println!("tagged {tag}");
    } else {
        println!("tag {tag} already at HEAD");
    }
    println!("\n==> publish");
    for name in &plan.order {
        // Verified above with the other crates overlaid; verifying one crate alone would
        // rebuild it against crates.io, which is what was just published before it.
        // cargo waits until the crate is in the index, so the next one resolves it.
        println!("publishing {name} {version} (cargo's output follows when it is done)");
        let output = cmd!(sh, "cargo publish --locked --no-verify -p {name}")
            .ignore_status()
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprint!("{stderr}");
        if output.status.success() {
            println!("published {name} {version}");
        } else if stderr.contains("already exists") {
            println!("{name} {version} is already on the registry: skipped");
        } else {
            bail!("`cargo publish -p {name}` failed; fix it and run the same command again");
        }
    }
    println!("\nreleased {tag}. Push it: git push origin HEAD {tag}");
    Ok(())
}

/// What a release does, after its edits are in the tree of `sh`'s current directory.
#[derive(Debug)]
struct Plan {
    current: Version,
    version: Version,
    order: Vec<String>,
    changelog_section: Option<String>,
}

/// Validates the version, edits the manifests, `Cargo.lock` and `CHANGELOG.md` in the
/// current directory of `sh`, and checks the result with `cargo metadata`.
fn prepare(sh: &Shell, version: &Version) -> Result<Plan> {
    let workspace = Workspace::load(sh)?;
    let current = workspace.release_version()?;
    check_version(&current, version)?;
    let order = publish_order(&workspace.members)?;

    // Manifests. Internal crate names: every workspace member, publishable or not, since a
    // `[workspace.dependencies]` entry may name either.
    let internal: BTreeSet<&str> = workspace.members.iter().map(|m| m.name.as_str()).collect();
    let root_manifest = sh.current_dir().join("Cargo.toml");
    let text = sh.read_file(&root_manifest)?;
    let bumped = bump_root_manifest(&text, &current, version, &internal)?;
    if bumped != text {
        sh.write_file(&root_manifest, bumped)?;
    }
    for member in workspace.members.iter().filter(|m| m.publishable) {
        let text = sh.read_file(&member.manifest_path)?;
        let bumped = bump_package_version(&text, &current, version);
        if bumped != text {
            sh.write_file(&member.manifest_path, bumped)?;
        }
    }
    // Rewrites only the workspace members' entries of Cargo.lock.
    cmd!(sh, "cargo update --workspace --quiet").run()?;
    Workspace::load(sh)?.check_bumped(version)?;

    // Changelog.
    let changelog_path = sh.current_dir().join(CHANGELOG);
    let existing = if changelog_path.exists() {
        sh.read_file(&changelog_path)?
    } else {
        CHANGELOG_TEMPLATE.to_owned()
    };
    let previous_tag = previous_tag(sh, version)?;
    let commits = commits_since(sh, previous_tag.as_ref().map(|(tag, _)| tag.as_str()))?;
    let release = Release {
        version,
        date: &today(),
        previous_tag: previous_tag.as_ref().map(|(tag, _)| tag.as_str()),
        repository: workspace.repository.as_deref(),
    };
    let changelog_section = match update_changelog(&existing, &release, &commits)? {
        Some(updated) => {
            sh.write_file(&changelog_path, &updated)?;
            Some(changelog_section(&updated, version).unwrap_or_default())
        }
        None => None,
    };
    Ok(Plan {
        current,
        version: version.clone(),
        order,
        changelog_section,
    })
}

fn print_plan(plan: &Plan) {
    if plan.current == plan.version {
        println!(
            "version: {} (already the workspace version: re-run)",
            plan.version
        );
    } else {
        println!("version: {} -> {}", plan.current, plan.version);
    }
    println!("publish order: {}", plan.order.join(", "));
    match &plan.changelog_section {
        Some(section) => println!("\n==> {CHANGELOG}\n{section}"),
        None => println!(
            "{CHANGELOG} already has a section for {}: unchanged",
            plan.version
        ),
    }
}

/// `cargo package` of all publishable crates in one invocation, so each is verified
/// against the others through cargo's local registry overlay (cargo ≥ 1.83).
fn package(sh: &Shell, order: &[String], version: &Version, target_dir: &Path) -> Result<()> {
    println!(
        "\n==> cargo package ({} crates, target dir {})",
        order.len(),
        target_dir.display()
    );
    let started = Instant::now();
    let head_tree = "HEAD^{tree}";
    let tree = cmd!(sh, "git rev-parse {head_tree}").read()?;
    forget_other_overlays(target_dir, order, &format!("{tree} {version}"))?;
    let packages: Vec<String> = order
        .iter()
        .map(|name| format!("--package={name}"))
        .collect();
    cmd!(
        sh,
        "cargo package --locked --allow-dirty --target-dir {target_dir} {packages...}"
    )
    .run()
    .context("`cargo package` failed: the release would not publish")?;
    println!("<== cargo package: ok in {:.1?}", started.elapsed());
    Ok(())
}

/// File in the target directory naming the sources (`<HEAD tree> <version>`) that the
/// overlay's leftovers were made from.
const OVERLAY_STAMP: &str = "orchestra-release-sources";

/// Cargo trusts a registry crate's name and version to identify its contents. Our crates
/// reach the verification builds through the overlay registry under the *same* name and
/// version in every run, so what an earlier run left would be reused even though the
/// sources changed since: the crates cargo unpacked into `$CARGO_HOME/registry/src/-<hash>/`
/// and the artifacts compiled from them in the target directory. Both are removed unless
/// they were made from the same sources (`stamp`), so a dry run always verifies what it
/// packaged and a repeated one stays quick.
fn forget_other_overlays(target_dir: &Path, names: &[String], stamp: &str) -> Result<()> {
    let stamp_path = target_dir.join(OVERLAY_STAMP);
    if std::fs::read_to_string(&stamp_path).is_ok_and(|previous| previous == stamp) {
        return Ok(());
    }
    let mut removed = 0;
    if let Some(home) = cargo_home() {
        removed += remove_overlay_sources(&home.join("registry/src"), names)?;
    }
    removed += remove_built_crates(&target_dir.join("debug"), names)?;
    if removed > 0 {
        println!("removed {removed} leftovers of a release check of other sources");
    }
    std::fs::create_dir_all(target_dir)?;
    std::fs::write(&stamp_path, stamp)?;
    Ok(())
}

/// Removes `<src>/-<hash>/<name>-<version>` for each of `names` and any version: the sources
/// cargo unpacked from local registries (the `src` directories whose name starts with `-`).
/// Returns how many were removed.
fn remove_overlay_sources(src: &Path, names: &[String]) -> Result<usize> {
    let Ok(registries) = std::fs::read_dir(src) else {
        return Ok(0);
    };
    let mut removed = 0;
    for registry in registries.flatten() {
        if registry.file_name().to_string_lossy().starts_with('-') {
            removed += remove_entries(&registry.path(), |entry| {
                names
                    .iter()
                    .any(|name| is_versioned(entry.strip_prefix(name.as_str())))
            })?;
        }
    }
    Ok(removed)
}

/// `-1.2.3`, the rest of `<name>-1.2.3` after the name.
fn is_versioned(rest: Option<&str>) -> bool {
    rest.and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|version| Version::parse(version).is_ok())
}

/// Removes what cargo compiled for `names` under a profile directory (`<target>/debug`):
/// `.fingerprint/<name>-<hash>`, `deps/lib<crate>-<hash>.rlib` and the like, `build/…`,
/// `incremental/<crate>-<hash>`. Returns how many entries were removed.
fn remove_built_crates(profile: &Path, names: &[String]) -> Result<usize> {
    let prefixes: Vec<String> = names
        .iter()
        .flat_map(|name| {
            let krate = name.replace('-', "_");
            [
                format!("{name}-"),
                format!("{krate}-"),
                format!("lib{krate}-"),
            ]
        })
        .collect();
    let mut removed = 0;
    for dir in [".fingerprint", "deps", "build", "incremental"] {
        removed += remove_entries(&profile.join(dir), |entry| {
            prefixes
                .iter()
                .any(|prefix| entry.starts_with(prefix.as_str()))
        })?;
    }
    Ok(removed)
}

/// Removes the files and directories in `dir` whose name `matches`.
fn remove_entries(dir: &Path, matches: impl Fn(&str) -> bool) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !matches(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.with_context(|| format!("removing {}", path.display()))?;
        removed += 1;
    }
    Ok(removed)
}

/// Where cargo keeps its registries: `$CARGO_HOME`, else `~/.cargo`.
#[allow(clippy::disallowed_methods)] // A developer tool asking where cargo's files are.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".cargo")))
}

/// A `git worktree` of HEAD in a temporary directory, removed on drop.
struct TempWorktree<'a> {
    sh: &'a Shell,
    root: PathBuf,
    path: PathBuf,
}

impl<'a> TempWorktree<'a> {
    fn add(sh: &'a Shell, root: &Path, path: &Path) -> Result<Self> {
        let _dir = sh.push_dir(root);
        cmd!(sh, "git worktree add --quiet --detach {path} HEAD").run()?;
        Ok(Self {
            sh,
            root: root.to_owned(),
            path: path.to_owned(),
        })
    }
}

impl Drop for TempWorktree<'_> {
    fn drop(&mut self) {
        let _dir = self.sh.push_dir(&self.root);
        let path = &self.path;
        if let Err(error) = cmd!(self.sh, "git worktree remove --force {path}")
            .quiet()
            .run()
        {
            eprintln!(
                "warning: could not remove the temporary worktree {}: {error}",
                path.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Versions.
// ---------------------------------------------------------------------------------------

/// Parses `1.2.3`, `v1.2.3` or `1.2.3-rc.1`; build metadata is refused (crates.io ignores
/// it when comparing versions, so `1.0.0+a` and `1.0.0+b` cannot both be published).
fn parse_version(text: &str) -> Result<Version> {
    let bare = text.strip_prefix('v').unwrap_or(text);
    let version = Version::parse(bare)
        .with_context(|| format!("`{text}` is not a SemVer version such as 0.2.0 or 1.0.0-rc.1"))?;
    if !version.build.is_empty() {
        bail!(
            "`{text}`: build metadata (`+{}`) is not allowed in a release",
            version.build
        );
    }
    Ok(version)
}

/// A release must move forward; the current version itself is accepted so that an
/// interrupted release can be finished by running the same command again.
fn check_version(current: &Version, new: &Version) -> Result<()> {
    if new < current {
        bail!("version {new} is lower than the current version {current}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Workspace metadata and publish order.
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Workspace {
    members: Vec<Member>,
    target_dir: PathBuf,
    /// `package.repository` shared by the publishable members, for changelog links.
    repository: Option<String>,
}

#[derive(Debug)]
struct Member {
    name: String,
    version: Version,
    publishable: bool,
    manifest_path: PathBuf,
    repository: Option<String>,
    dependencies: Vec<Dependency>,
}

#[derive(Debug)]
struct Dependency {
    name: String,
    kind: DependencyKind,
    /// The version requirement; `None` for a path dependency without one (which `cargo
    /// publish` strips when it is a dev-dependency).
    req: Option<String>,
    is_path: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DependencyKind {
    Normal,
    Build,
    Dev,
}

impl Workspace {
    fn load(sh: &Shell) -> Result<Self> {
        let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
            .quiet()
            .read()?;
        parse_metadata(&json)
    }

    /// The version shared by every publishable member.
    fn release_version(&self) -> Result<Version> {
        let versions: BTreeSet<&Version> = self
            .members
            .iter()
            .filter(|m| m.publishable)
            .map(|m| &m.version)
            .collect();
        match versions.into_iter().collect::<Vec<_>>().as_slice() {
            [version] => Ok((*version).clone()),
            [] => bail!("the workspace has no publishable crate"),
            several => bail!(
                "the publishable crates do not share one version ({}); align them first",
                several
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// After the bump: every publishable crate is at `version`, and every requirement on
    /// another publishable crate accepts it (else cargo would resolve the old version).
    fn check_bumped(&self, version: &Version) -> Result<()> {
        let publishable: BTreeSet<&str> = self
            .members
            .iter()
            .filter(|m| m.publishable)
            .map(|m| m.name.as_str())
            .collect();
        for member in self.members.iter().filter(|m| m.publishable) {
            if member.version != *version {
                bail!(
                    "{} is still at {} after the bump: set `version.workspace = true` in {}",
                    member.name,
                    member.version,
                    member.manifest_path.display()
                );
            }
        }
        for member in &self.members {
            for dep in &member.dependencies {
                let Some(req) = &dep.req else { continue };
                if !dep.is_path || !publishable.contains(dep.name.as_str()) {
                    continue;
                }
                let parsed = VersionReq::parse(req).with_context(|| {
                    format!("{}: requirement `{req}` on {}", member.name, dep.name)
                })?;
                if !parsed.matches(version) {
                    bail!(
                        "{} requires {} `{req}`, which does not accept {version}: \
                         use `{}.workspace = true` or update the requirement",
                        member.name,
                        dep.name,
                        dep.name
                    );
                }
            }
        }
        Ok(())
    }
}

/// Reads the output of `cargo metadata --format-version 1 [--no-deps]`.
fn parse_metadata(json: &str) -> Result<Workspace> {
    let value: Value = serde_json::from_str(json).context("parsing `cargo metadata` output")?;
    let str_field = |value: &Value, key: &str| -> Result<String> {
        value[key]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("`cargo metadata`: missing string field `{key}`"))
    };
    let members: BTreeSet<&str> = value["workspace_members"]
        .as_array()
        .context("`cargo metadata`: missing `workspace_members`")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut result = Vec::new();
    for package in value["packages"]
        .as_array()
        .context("`cargo metadata`: missing `packages`")?
    {
        if !members.contains(str_field(package, "id")?.as_str()) {
            continue;
        }
        let name = str_field(package, "name")?;
        let version = Version::parse(&str_field(package, "version")?)
            .with_context(|| format!("version of {name}"))?;
        // `publish`: null = any registry, [] = `publish = false`, [..] = those registries.
        let publishable = match &package["publish"] {
            Value::Array(registries) => !registries.is_empty(),
            _ => true,
        };
        let mut dependencies = Vec::new();
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let kind = match dep["kind"].as_str() {
                None => DependencyKind::Normal,
                Some("build") => DependencyKind::Build,
                Some("dev") => DependencyKind::Dev,
                Some(other) => bail!("{name}: unknown dependency kind `{other}`"),
            };
            let req = str_field(dep, "req")?;
            dependencies.push(Dependency {
                name: str_field(dep, "name")?,
                kind,
                // Cargo reports a path dependency without a version as `*`.
                req: (req != "*").then_some(req),
                is_path: dep["path"].is_string(),
            });
        }
        result.push(Member {
            manifest_path: PathBuf::from(str_field(package, "manifest_path")?),
            repository: package["repository"].as_str().map(str::to_owned),
            name,
            version,
            publishable,
            dependencies,
        });
    }
    result.sort_by(|a, b| a.name.cmp(&b.name));
    let repository = result
        .iter()
        .filter(|m| m.publishable)
        .find_map(|m| m.repository.clone());
    Ok(Workspace {
        members: result,
        target_dir: PathBuf::from(str_field(&value, "target_directory")?),
        repository,
    })
}

/// The publishable members, each after the publishable members it depends on; ties in
/// name order. Edges are the dependencies `cargo publish` keeps in the uploaded manifest
/// and crates.io therefore resolves: normal and build ones, and dev-dependencies that
/// carry a version (cargo strips those without one), as cargo's own
/// `cargo package --workspace` orders them.
fn publish_order(members: &[Member]) -> Result<Vec<String>> {
    let publishable: BTreeSet<&str> = members
        .iter()
        .filter(|m| m.publishable)
        .map(|m| m.name.as_str())
        .collect();
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for member in members.iter().filter(|m| m.publishable) {
        let deps = needs.entry(member.name.as_str()).or_default();
        for dep in &member.dependencies {
            let kept = dep.kind != DependencyKind::Dev || dep.req.is_some();
            if kept
                && dep.is_path
                && dep.name != member.name
                && publishable.contains(dep.name.as_str())
            {
                deps.insert(dep.name.as_str());
            }
        }
    }
    let mut order = Vec::new();
    while !needs.is_empty() {
        let ready: Vec<&str> = needs
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(name, _)| *name)
            .collect();
        let Some(next) = ready.first().copied() else {
            bail!(
                "dependency cycle among {}: no publish order exists",
                needs.keys().copied().collect::<Vec<_>>().join(", ")
            );
        };
        needs.remove(next);
        for deps in needs.values_mut() {
            deps.remove(next);
        }
        order.push(next.to_owned());
    }
    Ok(order)
}

// ---------------------------------------------------------------------------------------
// Manifest edits (line-based; `Workspace::check_bumped` verifies the result).
// ---------------------------------------------------------------------------------------

/// In the root manifest: `version` under `[workspace.package]`, and the `version` key of
/// every `[workspace.dependencies]` entry naming an internal crate.
fn bump_root_manifest(
    text: &str,
    old: &Version,
    new: &Version,
    internal: &BTreeSet<&str>,
) -> Result<String> {
    let old_value = format!("\"{old}\"");
    let new_value = format!("\"{new}\"");
    let mut section = String::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        let edited = match section.as_str() {
            "[workspace.package]" if is_key(trimmed, "version") => {
                line.replacen(&old_value, &new_value, 1)
            }
            "[workspace.dependencies]" => {
                match trimmed.split_once('=').map(|(key, _)| key.trim()) {
                    Some(key) if internal.contains(key) => {
                        let old_key = format!("version = {old_value}");
                        if !line.contains(&old_key)
                            && !line.contains(&format!("version = {new_value}"))
                        {
                            bail!(
                                "Cargo.toml: `{key}` in [workspace.dependencies] lacks \
                                 `version = {old_value}` on its line: {}",
                                trimmed
                            );
                        }
                        line.replacen(&old_key, &format!("version = {new_value}"), 1)
                    }
                    _ => line.to_owned(),
                }
            }
            _ => line.to_owned(),
        };
        out.push_str(&edited);
    }
    Ok(out)
}

/// A member manifest with a literal `version = "<old>"` under `[package]` (rather than
/// `version.workspace = true`) gets the new version; others are returned unchanged.
fn bump_package_version(text: &str, old: &Version, new: &Version) -> String {
    let mut section = String::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        if section == "[package]" && is_key(trimmed, "version") {
            out.push_str(&line.replacen(&format!("\"{old}\""), &format!("\"{new}\""), 1));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// `key = …` (not `key.workspace = …`).
fn is_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

// ---------------------------------------------------------------------------------------
// Git history.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Commit {
    hash: String,
    subject: String,
    body: String,
}

/// The newest `v*` tag reachable from HEAD whose version is lower than `version`.
fn previous_tag(sh: &Shell, version: &Version) -> Result<Option<(String, Version)>> {
    let tags = cmd!(sh, "git tag --list v* --merged HEAD").read()?;
    Ok(tags
        .lines()
        .filter_map(|tag| {
            let parsed = Version::parse(tag.strip_prefix('v')?).ok()?;
            (parsed < *version).then(|| (tag.to_owned(), parsed))
        })
        .max_by(|a, b| a.1.cmp(&b.1)))
}

fn commits_since(sh: &Shell, tag: Option<&str>) -> Result<Vec<Commit>> {
    let range = match tag {
        Some(tag) => format!("{tag}..HEAD"),
        None => "HEAD".to_owned(),
    };
    // Fields end in \x1f, records in \x1e: subjects and bodies may hold anything else.
    let log = cmd!(
        sh,
        "git log --no-merges --format=%h%x1f%s%x1f%b%x1e {range}"
    )
    .read()?;
    Ok(log
        .split('\x1e')
        .filter_map(|record| {
            let mut fields = record.trim_start_matches('\n').splitn(3, '\x1f');
            let hash = fields.next()?.trim();
            let subject = fields.next()?.trim();
            let body = fields.next().unwrap_or("").trim();
            (!hash.is_empty() && !subject.starts_with(RELEASE_COMMIT_PREFIX)).then(|| Commit {
                hash: hash.to_owned(),
                subject: subject.to_owned(),
                body: body.to_owned(),
            })
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Changelog.
// ---------------------------------------------------------------------------------------

const CHANGELOG_TEMPLATE: &str = "\
# Changelog

All notable changes to this project are documented in this file.

The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/), and this
project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).

## [Unreleased]
";

/// Keep a Changelog's section kinds, in its order.
const KINDS: [&str; 6] = [
    "Added",
    "Changed",
    "Deprecated",
    "Removed",
    "Fixed",
    "Security",
];

struct Release<'a> {
    version: &'a Version,
    /// `YYYY-MM-DD`.
    date: &'a str,
    previous_tag: Option<&'a str>,
    repository: Option<&'a str>,
}

/// One changelog line from a commit: Conventional Commit subjects (`type(scope)!: text`)
/// go under their Keep a Changelog kind; any other subject is listed as it is, under
/// "Changed".
fn changelog_entry(commit: &Commit) -> (&'static str, String) {
    let hash = &commit.hash;
    if let Some((head, text)) = commit.subject.split_once(": ") {
        let breaking_mark = head.ends_with('!');
        let head = head.trim_end_matches('!');
        let (kind, scope) = match head.split_once('(') {
            Some((kind, scope)) if scope.ends_with(')') => {
                (kind, Some(scope.trim_end_matches(')')))
            }
            _ => (head, None),
        };
        let section = match kind {
            "feat" => Some("Added"),
            "fix" => Some("Fixed"),
            "security" => Some("Security"),
            "deprecate" => Some("Deprecated"),
            "remove" => Some("Removed"),
            "perf" | "refactor" | "revert" | "docs" | "build" | "ci" | "chore" | "style"
            | "test" => Some("Changed"),
            _ => None,
        };
        if let Some(section) = section {
            let breaking = breaking_mark
                || commit.body.lines().any(|line| {
                    line.starts_with("BREAKING CHANGE:") || line.starts_with("BREAKING-CHANGE:")
                });
            let mut entry = String::new();
            if breaking {
                entry.push_str("**Breaking:** ");
            }
            if let Some(scope) = scope {
                entry.push_str(&format!("{scope}: "));
            }
            entry.push_str(text);
            return (section, format!("{entry} ({hash})"));
        }
    }
    ("Changed", format!("{} ({hash})", commit.subject))
}

/// The updated changelog, or `None` when it already has a section for this version.
fn update_changelog(
    existing: &str,
    release: &Release<'_>,
    commits: &[Commit],
) -> Result<Option<String>> {
    let version = release.version;
    let heading = format!("## [{version}]");
    if existing
        .lines()
        .any(|line| line == heading || line.starts_with(&format!("{heading} ")))
    {
        return Ok(None);
    }
    let lines: Vec<&str> = existing.lines().collect();
    let is_release_heading = |line: &str| line.starts_with("## ");
    let is_link = |line: &str| line.starts_with('[') && line.contains("]: ");
    let first_link = lines
        .iter()
        .rposition(|line| !line.trim().is_empty() && !is_link(line))
        .map_or(lines.len(), |last_text| last_text + 1);
    let unreleased = lines
        .iter()
        .position(|line| line.trim().eq_ignore_ascii_case("## [unreleased]"));
    // Where the new section goes and which lines (Unreleased notes) it absorbs.
    let (insert_at, notes_end) = match unreleased {
        Some(at) => {
            let end = lines[at + 1..first_link.max(at + 1)]
                .iter()
                .position(|line| is_release_heading(line))
                .map_or(first_link.max(at + 1), |offset| at + 1 + offset);
            (at + 1, end)
        }
        None => {
            let at = lines
                .iter()
                .position(|line| is_release_heading(line))
                .unwrap_or(first_link);
            (at, at)
        }
    };

    // Unreleased notes by kind, then the commits.
    let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut loose = Vec::new();
    let mut current: Option<String> = None;
    for line in &lines[insert_at..notes_end] {
        if let Some(kind) = line.strip_prefix("### ") {
            current = Some(kind.trim().to_owned());
        } else if !line.trim().is_empty() {
            match &current {
                Some(kind) => sections
                    .entry(kind.clone())
                    .or_default()
                    .push((*line).to_owned()),
                None => loose.push((*line).to_owned()),
            }
        }
    }
    for commit in commits {
        let (kind, entry) = changelog_entry(commit);
        sections
            .entry(kind.to_owned())
            .or_default()
            .push(format!("- {entry}"));
    }
    let mut section = format!("{heading} - {}\n", release.date);
    if !loose.is_empty() {
        section.push('\n');
        for line in &loose {
            section.push_str(line);
            section.push('\n');
        }
    }
    let known = KINDS.iter().map(|kind| (*kind).to_owned());
    let others: Vec<String> = sections
        .keys()
        .filter(|kind| !KINDS.contains(&kind.as_str()))
        .cloned()
        .collect();
    for kind in known.chain(others) {
        if let Some(entries) = sections.get(&kind) {
            section.push_str(&format!("\n### {kind}\n\n"));
            for entry in entries {
                section.push_str(entry);
                section.push('\n');
            }
        }
    }
    if sections.is_empty() && loose.is_empty() {
        section.push_str("\nNo changes.\n");
    }

    // Link references: [Unreleased] compares from the new tag; the new version's link
    // compares with the previous tag (or points at its tag for a first release).
    let mut links: Vec<String> = lines[first_link..]
        .iter()
        .filter(|line| is_link(line))
        .map(|line| (*line).to_owned())
        .collect();
    if let Some(repository) = release.repository {
        let repository = repository.trim_end_matches('/').trim_end_matches(".git");
        let tag = format!("v{version}");
        let unreleased_link = format!("[Unreleased]: {repository}/compare/{tag}...HEAD");
        let version_link = match release.previous_tag {
            Some(previous) => format!("[{version}]: {repository}/compare/{previous}...{tag}"),
            None => format!("[{version}]: {repository}/releases/tag/{tag}"),
        };
        links.retain(|line| !line.to_ascii_lowercase().starts_with("[unreleased]: "));
        links.insert(0, version_link);
        links.insert(0, unreleased_link);
    }

    let mut out = String::new();
    let mut push_lines = |slice: &[&str]| {
        for line in slice {
            out.push_str(line);
            out.push('\n');
        }
    };
    push_lines(&lines[..insert_at]);
    let mut out = trim_blank_tail(out);
    if unreleased.is_none() {
        out.push_str("\n## [Unreleased]\n");
    }
    out.push('\n');
    out.push_str(&section);
    let rest: Vec<&str> = lines[notes_end..first_link].to_vec();
    if rest.iter().any(|line| !line.trim().is_empty()) {
        out.push('\n');
        let mut tail = String::new();
        for line in &rest {
            tail.push_str(line);
            tail.push('\n');
        }
        out.push_str(tail.trim_matches('\n'));
        out.push('\n');
    }
    if !links.is_empty() {
        out.push('\n');
        for link in links {
            out.push_str(&link);
            out.push('\n');
        }
    }
    Ok(Some(out))
}

fn trim_blank_tail(mut text: String) -> String {
    while text.ends_with("\n\n") {
        text.pop();
    }
    text
}

/// The text of one version's section, for the dry run's preview.
fn changelog_section(changelog: &str, version: &Version) -> Option<String> {
    let heading = format!("## [{version}]");
    let start = changelog.find(&heading)?;
    let rest = &changelog[start..];
    let end = rest[heading.len()..].find("\n## ").map_or_else(
        || rest.find("\n[").unwrap_or(rest.len()),
        |at| at + heading.len(),
    );
    Some(rest[..end].trim_end().to_owned())
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    civil_date(i64::try_from(seconds / 86_400).unwrap_or(0))
}

/// Days since 1970-01-01 to a proleptic Gregorian `YYYY-MM-DD` (Howard Hinnant's
/// `civil_from_days`).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn commit(hash: &str, subject: &str) -> Commit {
        Commit {
            hash: hash.to_owned(),
            subject: subject.to_owned(),
            body: String::new(),
        }
    }

    fn release<'a>(version: &'a Version, previous_tag: Option<&'a str>) -> Release<'a> {
        Release {
            version,
            date: "2026-01-02",
            previous_tag,
            repository: Some("https://github.com/orchestra-llm/orchestra-llm"),
        }
    }

    #[test]
    fn versions_are_semver_without_build_metadata() {
        assert_eq!(parse_version("0.2.0").unwrap(), v("0.2.0"));
        assert_eq!(parse_version("v1.0.0-rc.1").unwrap(), v("1.0.0-rc.1"));
        for bad in ["1.2", "1.2.3.4", "01.2.3", "x", "", "1.0.0+build.5"] {
            assert!(parse_version(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn versions_must_not_go_backwards() {
        let current = v("0.2.0");
        assert!(check_version(&current, &v("0.2.1")).is_ok());
        assert!(check_version(&current, &v("1.0.0")).is_ok());
        assert!(check_version(&current, &v("0.2.0")).is_ok(), "a re-run");
        assert!(check_version(&current, &v("0.1.9")).is_err());
        // Pre-releases sort before their release.
        assert!(check_version(&current, &v("0.2.0-rc.1")).is_err());
        assert!(check_version(&v("1.0.0-rc.1"), &v("1.0.0-rc.2")).is_ok());
        assert!(check_version(&v("1.0.0-rc.2"), &v("1.0.0")).is_ok());
        assert!(check_version(&v("1.0.0-rc.10"), &v("1.0.0-rc.9")).is_err());
    }

    /// `cargo metadata --format-version 1 --no-deps` of this workspace, trimmed to the
    /// fields read here, the internal dependencies and one external one per crate.
    const METADATA: &str = include_str!("../fixtures/cargo-metadata.json");

    #[test]
    fn metadata_fixture_parses() {
        let workspace = parse_metadata(METADATA).unwrap();
        assert_eq!(workspace.members.len(), 13);
        let unpublished: Vec<&str> = workspace
            .members
            .iter()
            .filter(|m| !m.publishable)
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(unpublished, ["orchestra-tests", "xtask"]);
        assert_eq!(workspace.release_version().unwrap(), v("0.1.0"));
        assert_eq!(
            workspace.repository.as_deref(),
            Some("https://github.com/orchestra-llm/orchestra-llm")
        );
        workspace.check_bumped(&v("0.1.0")).unwrap();
        assert!(workspace.check_bumped(&v("0.2.0")).is_err());
    }

    #[test]
    fn publish_order_puts_every_crate_after_what_it_needs() {
        let workspace = parse_metadata(METADATA).unwrap();
        let order = publish_order(&workspace.members).unwrap();
        assert_eq!(
            order,
            [
                "orchestra-core",
                "orchestra-config",
                "orchestra-openai-compat",
                "orchestra-sim",
                "orchestra-provider-openrouter",
                "orchestra-cache",
                "orchestra-provider-portkey",
                "orchestra-resilience",
                "orchestra-routing",
                "orchestra-llm",
                "orchestra-cli",
            ]
        );
        let position = |name: &str| order.iter().position(|n| n == name).unwrap();
        for member in workspace.members.iter().filter(|m| m.publishable) {
            for dep in &member.dependencies {
                let kept = dep.kind != DependencyKind::Dev || dep.req.is_some();
                if kept && dep.name != member.name && order.contains(&dep.name) {
                    assert!(position(&dep.name) < position(&member.name));
                }
            }
        }
    }

    fn member(name: &str, deps: &[(&str, DependencyKind, bool)]) -> Member {
        Member {
            name: name.to_owned(),
            version: v("0.1.0"),
            publishable: true,
            manifest_path: PathBuf::from(format!("{name}/Cargo.toml")),
            repository: None,
            dependencies: deps
                .iter()
                .map(|(dep, kind, versioned)| Dependency {
                    name: (*dep).to_owned(),
                    kind: *kind,
                    req: versioned.then(|| "^0.1.0".to_owned()),
                    is_path: true,
                })
                .collect(),
        }
    }

    #[test]
    fn unversioned_dev_dependencies_do_not_order_and_cycles_are_reported() {
        use DependencyKind::{Build, Dev, Normal};
        // b's dev-dependency on c has no version: cargo strips it, so no edge.
        let members = [
            member("a", &[("b", Normal, true)]),
            member("b", &[("c", Dev, false), ("b", Dev, false)]),
            member("c", &[("a", Build, true)]),
        ];
        assert_eq!(publish_order(&members).unwrap(), ["b", "a", "c"]);
        let cyclic = [
            member("a", &[("b", Normal, true)]),
            member("b", &[("a", Dev, true)]),
        ];
        let error = publish_order(&cyclic).unwrap_err().to_string();
        assert!(error.contains("cycle among a, b"), "{error}");
    }

    const ROOT_MANIFEST: &str = r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.1.0"
edition = "2024"

[workspace.dependencies]
orchestra-core = { version = "0.1.0", path = "crates/core" }
orchestra-sim = { version = "0.1.0", path = "crates/sim" }
serde = { version = "0.1.0", features = ["derive"] }

[profile.dev]
debug = "line-tables-only"
"#;

    #[test]
    fn root_manifest_bump_touches_only_our_versions() {
        let internal = BTreeSet::from(["orchestra-core", "orchestra-sim"]);
        let bumped =
            bump_root_manifest(ROOT_MANIFEST, &v("0.1.0"), &v("0.2.0"), &internal).unwrap();
        assert_eq!(
            bumped,
            ROOT_MANIFEST
                .replace(
                    "version = \"0.1.0\"\nedition",
                    "version = \"0.2.0\"\nedition"
                )
                .replace(
                    "{ version = \"0.1.0\", path = \"crates/core\" }",
                    "{ version = \"0.2.0\", path = \"crates/core\" }"
                )
                .replace(
                    "{ version = \"0.1.0\", path = \"crates/sim\" }",
                    "{ version = \"0.2.0\", path = \"crates/sim\" }"
                )
        );
        assert!(bumped.contains("serde = { version = \"0.1.0\""));
        // Idempotent: the bumped manifest bumps to itself.
        assert_eq!(
            bump_root_manifest(&bumped, &v("0.2.0"), &v("0.2.0"), &internal).unwrap(),
            bumped
        );
        // An internal entry without an inline version is an error, not a silent skip.
        let internal = BTreeSet::from(["orchestra-core", "orchestra-sim", "serde"]);
        assert!(
            bump_root_manifest(
                "[workspace.dependencies]\nserde = \"1\"\n",
                &v("0.1.0"),
                &v("0.2.0"),
                &internal
            )
            .is_err()
        );
    }

    #[test]
    fn member_manifest_bump_leaves_workspace_versions_alone() {
        let inherited = "[package]\nname = \"a\"\nversion.workspace = true\n";
        assert_eq!(
            bump_package_version(inherited, &v("0.1.0"), &v("0.2.0")),
            inherited
        );
        let literal = "[package]\nname = \"a\"\nversion = \"0.1.0\"\n\n[dependencies]\nx = { version = \"0.1.0\" }\n";
        assert_eq!(
            bump_package_version(literal, &v("0.1.0"), &v("0.2.0")),
            literal.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)
        );
    }

    #[test]
    fn changelog_lists_plain_subjects_for_a_first_release() {
        let version = v("0.1.0");
        let commits = [
            commit("bbbbbbb", "routing: one seeded RNG type"),
            commit("aaaaaaa", "xtask ci: install redis-server"),
        ];
        let updated = update_changelog(CHANGELOG_TEMPLATE, &release(&version, None), &commits)
            .unwrap()
            .unwrap();
        let expected = format!(
            "{CHANGELOG_TEMPLATE}
## [0.1.0] - 2026-01-02

### Changed

- routing: one seeded RNG type (bbbbbbb)
- xtask ci: install redis-server (aaaaaaa)

[Unreleased]: https://github.com/orchestra-llm/orchestra-llm/compare/v0.1.0...HEAD
[0.1.0]: https://github.com/orchestra-llm/orchestra-llm/releases/tag/v0.1.0
"
        );
        assert_eq!(updated, expected);
        // Running again changes nothing.
        assert!(
            update_changelog(&updated, &release(&version, None), &commits)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            changelog_section(&updated, &version).unwrap(),
            "## [0.1.0] - 2026-01-02\n\n### Changed\n\n- routing: one seeded RNG type (bbbbbbb)\n- xtask ci: install redis-server (aaaaaaa)"
        );
    }

    #[test]
    fn changelog_groups_conventional_commits_and_keeps_unreleased_notes() {
        let first = update_changelog(
            CHANGELOG_TEMPLATE,
            &release(&v("0.1.0"), None),
            &[commit("0000000", "initial import")],
        )
        .unwrap()
        .unwrap();
        // Hand-written notes under Unreleased, then a second release.
        let with_notes = first.replace(
            "## [Unreleased]\n",
            "## [Unreleased]\n\n### Fixed\n\n- A hand-written note.\n",
        );
        let mut breaking = commit("3333333", "feat(core)!: Error is now non-exhaustive");
        breaking.body = "Longer text.".to_owned();
        let mut footer = commit("4444444", "refactor: rename Settings::load");
        footer.body = "BREAKING CHANGE: use Settings::from_env".to_owned();
        let commits = [
            commit("1111111", "fix(routing): honour Retry-After on 503"),
            commit("2222222", "feat: `orchestra batch`"),
            breaking,
            footer,
            commit("5555555", "docs: observability guide"),
            commit("6666666", "Merge-free subject without a type"),
        ];
        let updated =
            update_changelog(&with_notes, &release(&v("0.2.0"), Some("v0.1.0")), &commits)
                .unwrap()
                .unwrap();
        let expected = format!(
            "{CHANGELOG_TEMPLATE}
## [0.2.0] - 2026-01-02

### Added

- `orchestra batch` (2222222)
- **Breaking:** core: Error is now non-exhaustive (3333333)

### Changed

- **Breaking:** rename Settings::load (4444444)
- observability guide (5555555)
- Merge-free subject without a type (6666666)

### Fixed

- A hand-written note.
- routing: honour Retry-After on 503 (1111111)

## [0.1.0] - 2026-01-02

### Changed

- initial import (0000000)

[Unreleased]: https://github.com/orchestra-llm/orchestra-llm/compare/v0.2.0...HEAD
[0.2.0]: https://github.com/orchestra-llm/orchestra-llm/compare/v0.1.0...v0.2.0
[0.1.0]: https://github.com/orchestra-llm/orchestra-llm/releases/tag/v0.1.0
"
        );
        assert_eq!(updated, expected);
    }

    #[test]
    fn changelog_without_unreleased_heading_gets_one() {
        let existing = "# Changelog\n\n## [0.1.0] - 2025-01-01\n\n- first\n";
        let updated = update_changelog(
            existing,
            &Release {
                repository: None,
                ..release(&v("0.2.0"), Some("v0.1.0"))
            },
            &[commit("1234567", "fix: a bug")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            updated,
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-01-02\n\n### Fixed\n\n- a bug (1234567)\n\n## [0.1.0] - 2025-01-01\n\n- first\n"
        );
    }

    #[test]
    fn leftovers_of_other_sources_are_removed_and_nothing_else() {
        let root = std::env::temp_dir().join(format!("xtask-overlay-{}", std::process::id()));
        let (home, target) = (root.join("home"), root.join("target"));
        let removed = [
            "home/registry/src/-0123abcd/orchestra-core-0.2.0/src",
            "home/registry/src/-0123abcd/orchestra-core-0.1.0/src",
            "target/debug/.fingerprint/orchestra-core-1a2b3c",
            "target/debug/deps/liborchestra_core-1a2b3c.rlib",
            "target/debug/deps/orchestra_core-1a2b3c.d",
            "target/debug/incremental/orchestra_core-1a2b3c",
        ];
        let kept = [
            "home/registry/src/-0123abcd/serde-0.2.0/src",
            "home/registry/src/-0123abcd/orchestra-core-extra-0.2.0/src",
            "home/registry/src/index.crates.io-1949cf8c6b5b557f/orchestra-core-0.2.0/src",
            "target/debug/.fingerprint/serde-1a2b3c",
            "target/debug/deps/libserde-1a2b3c.rlib",
            "target/debug/deps/liborchestra_core_extra-1a2b3c.rlib",
        ];
        for path in removed.iter().chain(&kept) {
            std::fs::create_dir_all(root.join(path)).unwrap();
        }
        let names = ["orchestra-core".to_owned()];
        let src = home.join("registry/src");
        assert_eq!(remove_overlay_sources(&src, &names).unwrap(), 2);
        assert_eq!(
            remove_built_crates(&target.join("debug"), &names).unwrap(),
            4
        );
        for path in removed {
            assert!(!root.join(path).exists(), "{path} kept");
        }
        for path in kept {
            assert!(root.join(path).exists(), "{path} removed");
        }
        assert_eq!(
            remove_overlay_sources(&root.join("none"), &names).unwrap(),
            0
        );

        // The stamp: the same sources keep what is there, other sources do not.
        std::fs::create_dir_all(target.join("debug/deps/liborchestra_core-9.rlib")).unwrap();
        forget_other_overlays(&target, &names, "tree 0.2.0").unwrap();
        std::fs::create_dir_all(target.join("debug/deps/liborchestra_core-9.rlib")).unwrap();
        forget_other_overlays(&target, &names, "tree 0.2.0").unwrap();
        assert!(target.join("debug/deps/liborchestra_core-9.rlib").exists());
        forget_other_overlays(&target, &names, "other-tree 0.2.0").unwrap();
        assert!(!target.join("debug/deps/liborchestra_core-9.rlib").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The changelog the release rewrites keeps the shape it expects.
    #[test]
    fn repository_changelog_has_an_unreleased_section() {
        let changelog = include_str!("../../CHANGELOG.md");
        assert!(changelog.lines().any(|line| line == "## [Unreleased]"));
        let version = v("999.0.0");
        let updated = update_changelog(changelog, &release(&version, None), &[])
            .unwrap()
            .unwrap();
        assert!(updated.contains("## [Unreleased]\n\n## [999.0.0] - 2026-01-02\n"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_819), "2027-01-01");
    }
}
