# SPDX-License-Identifier: GPL-2.0
#
# Packaging targets; the top-level Makefile includes this file
# (-include packaging/packaging.mk).  Tools: sh scripts/deps.sh pkg.
#
#   make deb          build/pkg/kvm-nested-dkms_<version>_all.deb, lintian
#   make rpm          build/pkg/rpm/RPMS/noarch/kvm-nested-dkms-*.rpm, rpmlint
#   make pkgtest      install/upgrade/purge the .deb in a Debian 12 chroot
#   make pkgtest-trixie  the same in a Debian 13 chroot (trixie's dkms;
#                     6.12+deb13, then trixie-backports' newest 7.x)
#   make status-test  kvm-nested-status against fake trees; shellcheck
#   make repo         build/repo/public: a signed apt repository (reprepro)
#   make fleettest    the Ansible role against Debian 12 chroots (docs/fleet.md)
#   make fleettest-trixie  the same against Debian 13 chroots
#   make pkg-deps     install the tools the above need (root)

PKGDIR ?= $(BUILD)/pkg

deb:
	packaging/mkpkg deb $(PKGDIR)

rpm:
	packaging/mkpkg rpm $(PKGDIR)

pkgtest:
	tests/pkgtest

pkgtest-trixie:
	PKGTEST_SUITE=trixie tests/pkgtest

status-test:
	tests/status/run

repo:
	packaging/mkrepo

fleettest:
	tests/fleettest

fleettest-trixie:
	PKGTEST_SUITE=trixie tests/fleettest

pkg-deps:
	sh scripts/deps.sh pkg

.PHONY: deb rpm pkgtest pkgtest-trixie status-test repo fleettest fleettest-trixie \
	pkg-deps
