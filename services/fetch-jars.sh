#!/usr/bin/env bash
# Fetches the JVM jars of the local stack from Maven Central into .cache/jars/<component>.
# Idempotent: a component whose pom (and, for spark, pyspark's version) has not changed is skipped.
# Usage: services/fetch-jars.sh SPARK_VERSION
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
spark_version=${1:?usage: fetch-jars.sh SPARK_VERSION}
cache="$root/.cache/jars"
mkdir -p "$cache"

for component in kafka hadoop spark; do
  pom="$here/maven/$component/pom.xml"
  stamp="$cache/$component.stamp"
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  [ "$component" = spark ] && want="$want spark=$spark_version"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  echo "fetching $component jars from Maven Central"
  rm -rf "$cache/$component"
  if ! mvn -B -s "${MAVEN_SETTINGS:-$here/maven/settings.xml}" -f "$pom" -Dspark.version="$spark_version" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$cache/$component" \
      > "$cache/$component.mvn.log" 2>&1; then
    grep -E 'ERROR' "$cache/$component.mvn.log" | head -5 >&2
    echo "error: could not fetch the $component jars (full log: $cache/$component.mvn.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
done
