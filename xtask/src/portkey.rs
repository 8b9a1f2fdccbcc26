//! The open-source Portkey gateway the Portkey provider's tests run against: installed from
//! npm into `target/portkey-gateway`, reused while it holds the pinned versions.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// `@portkey-ai/gateway`, the version the tests and docs/portkey.md describe.
const GATEWAY_VERSION: &str = "1.15.2";

/// `@hono/node-server` pinned with npm `overrides`: the gateway allows `^1.3.3`, and newer
/// 1.x releases break every streaming response (Portkey-AI/gateway#1389).
const HONO_NODE_SERVER_VERSION: &str = "1.13.5";

/// Tells the tests where the install is (read by `orchestra_provider_portkey::harness`).
pub(crate) const INSTALL_DIR_VARIABLE: &str = "ORCHESTRA_PORTKEY_GATEWAY_DIR";

/// Installs the gateway unless `target/portkey-gateway` already holds the pinned versions;
/// returns the install directory.
pub(crate) fn install_gateway(sh: &Shell, root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/portkey-gateway");
    for tool in ["node", "npm"] {
        if cmd!(sh, "{tool} --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_err()
        {
            bail!(
                "`{tool}` is needed to install the Portkey gateway the provider-portkey tests \
                 run against (Node.js ≥ 20.6 with npm; Debian: `apt-get install nodejs npm`)"
            );
        }
    }
    if installed(sh, &dir) {
        println!(
            "@portkey-ai/gateway {GATEWAY_VERSION} is installed in {}",
            dir.display()
        );
        return Ok(dir);
    }
    println!(
        "installing @portkey-ai/gateway {GATEWAY_VERSION} (@hono/node-server \
         {HONO_NODE_SERVER_VERSION}) into {}",
        dir.display()
    );
    sh.create_dir(&dir)?;
    sh.write_file(
        dir.join("package.json"),
        format!(
            r#"{{
  "name": "orchestra-portkey-gateway",
  "private": true,
  "description": "The open-source Portkey gateway for orchestra-provider-portkey's tests",
  "dependencies": {{ "@portkey-ai/gateway": "{GATEWAY_VERSION}" }},
  "overrides": {{ "@hono/node-server": "{HONO_NODE_SERVER_VERSION}" }}
}}
"#
        ),
    )?;
    let _dir = sh.push_dir(&dir);
    // --ignore-scripts: the package's postinstall (patch-package) has nothing to patch.
    cmd!(
        sh,
        "npm install --no-audit --no-fund --ignore-scripts --loglevel=error"
    )
    .run()
    .context("npm install of the Portkey gateway failed")?;
    if !installed(sh, &dir) {
        bail!("npm installed the Portkey gateway, but not the pinned versions");
    }
    Ok(dir)
}

fn installed(sh: &Shell, dir: &Path) -> bool {
    let version = |package: &str| {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        if !manifest.is_file() {
            return None;
        }
        let manifest = manifest.display().to_string();
        let script = format!("process.stdout.write(require({manifest:?}).version)");
        cmd!(sh, "node -e {script}").quiet().read().ok()
    };
    version("@portkey-ai/gateway").as_deref() == Some(GATEWAY_VERSION)
        && version("@hono/node-server").as_deref() == Some(HONO_NODE_SERVER_VERSION)
        && dir
            .join("node_modules/@portkey-ai/gateway/build/start-server.js")
            .is_file()
}
