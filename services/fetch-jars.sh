#!/usr/bin/env bash
# Fetches the JVM jars of the local stack from Maven Central into .cache/jars/<component>, and
# compiles our launcher of the Hive Metastore (services/metastore/) against pyspark's Hive jars.
# Idempotent: a component whose pom or source (and pyspark's version) has not changed is skipped.
# Usage: services/fetch-jars.sh SPARK_VERSION PYSPARK_JARS_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
spark_version=${1:?usage: fetch-jars.sh SPARK_VERSION PYSPARK_JARS_DIR}
pyspark_jars=${2:?usage: fetch-jars.sh SPARK_VERSION PYSPARK_JARS_DIR}
cache="$root/.cache/jars"
mkdir -p "$cache"

for component in kafka hadoop yarn spark; do
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

# The Hive Metastore 2.3 of pyspark served on one address (Hive 2.3 itself binds 0.0.0.0).
src="$here/metastore/BoundMetaStore.java"
stamp="$cache/metastore.stamp"
want="$(sha256sum "$src" | cut -d' ' -f1) spark=$spark_version"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "compiling the metastore launcher"
  rm -rf "$cache/metastore" "$cache/metastore.classes"
  mkdir -p "$cache/metastore" "$cache/metastore.classes"
  if ! javac --release 17 -nowarn -d "$cache/metastore.classes" -cp "$pyspark_jars/*" "$src" \
      > "$cache/metastore.javac.log" 2>&1 \
      || ! jar --create --file "$cache/metastore/spot-metastore.jar" -C "$cache/metastore.classes" . \
      >> "$cache/metastore.javac.log" 2>&1; then
    head -20 "$cache/metastore.javac.log" >&2
    echo "error: could not compile $src (full log: $cache/metastore.javac.log)" >&2
    exit 1
  fi
  rm -rf "$cache/metastore.classes"
  echo "$want" > "$stamp"
fi
