#!/usr/bin/env python3
"""Builds the .deb with CPack from a build tree and checks it: contents, conffiles, maintainer
scripts and control fields (dpkg-deb), the systemd unit, then extracts it into a throwaway root and
runs the packaged binary from there (`sluice version`, `sluice check` on the packaged config with
the packaged plugins).

Usage: package_test.py BUILD_DIR"""
import os
import shutil
import subprocess
import sys
import tempfile


def run(*cmd, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r.stdout


def main():
    build = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="sluice-deb-")
    try:
        run("cpack", "--config", os.path.join(build, "CPackConfig.cmake"), "-B", tmp)
        debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
        assert len(debs) == 1, os.listdir(tmp)
        deb = os.path.join(tmp, debs[0])
        assert debs[0].startswith("sluice_"), debs

        listing = run("dpkg-deb", "-c", deb)
        files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        for path in ("/usr/bin/sluice", "/usr/lib/sluice/plugins/file.so",
                     "/etc/sluice/sluice.yaml", "/usr/lib/systemd/system/sluice.service",
                     "/usr/include/sluice/sluice_plugin.h", "/usr/include/sluice/sluice_sink.hpp",
                     "/usr/include/sluice/sluice_plugin_util.h",
                     "/usr/share/doc/sluice/examples/c_sink/c_sink.c",
                     "/usr/lib/cmake/SluiceSDK/SluiceSDKConfig.cmake",
                     "/usr/lib/cmake/SluiceSDK/SluiceSDKConfigVersion.cmake",
                     "/usr/lib/pkgconfig/sluice-sdk.pc"):
            assert path in files, "%s not in the package:\n%s" % (path, listing)
        assert not any("/build/" in f or f.startswith("/work") for f in files), files

        control = os.path.join(tmp, "control")
        run("dpkg-deb", "-e", deb, control)
        with open(os.path.join(control, "conffiles")) as f:
            assert f.read().split() == ["/etc/sluice/sluice.yaml"]
        fields = run("dpkg-deb", "-f", deb, "Package", "Version", "Depends", "Architecture")
        assert "Package: sluice" in fields and "adduser" in fields, fields
        assert "libuv1" in fields, "shared-library dependencies missing:\n" + fields
        with open(os.path.join(control, "postinst")) as f:
            postinst = f.read()
        assert "adduser --system" in postinst and "/var/lib/sluice" in postinst, postinst
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(control, script)
            assert os.access(path, os.X_OK), script + " is not executable"
            run("sh", "-n", path)

        root = os.path.join(tmp, "root")
        run("dpkg-deb", "-x", deb, root)
        with open(os.path.join(root, "usr/lib/systemd/system/sluice.service")) as f:
            unit = f.read()
        for line in ("Type=notify", "User=sluice", "StateDirectory=sluice", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID",
                     "EnvironmentFile=-/etc/default/sluice"):
            assert line in unit, line
        if shutil.which("systemd-analyze"):
            r = subprocess.run(["systemd-analyze", "verify", "--root=" + root,
                                "/usr/lib/systemd/system/sluice.service"],
                               capture_output=True, text=True)
            # Only complaints about the unit file itself count (not the absent sluice user).
            bad = [l for l in r.stderr.splitlines() if "sluice.service:" in l and "Unknown" in l]
            assert not bad, bad
        with open(os.path.join(root, "etc/sluice/sluice.yaml")) as f:
            packaged = f.read()
        assert "data_dir: /var/lib/sluice" in packaged, packaged

        binary = os.path.join(root, "usr/bin/sluice")
        out = run(binary, "version")
        assert out.startswith("sluice "), out
        # The packaged config names /usr/lib/sluice/plugins; the binary also looks beside itself
        # (<exe>/../lib/sluice/plugins), which is the extracted package's plugin directory.
        out = run(binary, "check", "-c", os.path.join(root, "etc/sluice/sluice.yaml"))
        assert out.strip().endswith(": ok"), out
        print("package %s: %d files, checks passed" % (debs[0], len(files)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
