// Android library of the Vigil core: the UniFFI Kotlin bindings of vigil-ffi
// and libvigil_ffi.so for each ABI, built from the Rust workspace one folder up.
//
// Needs on the build machine: the Android SDK with the NDK below, Rust with
// the Android targets (rustup target add aarch64-linux-android
// armv7-linux-androideabi x86_64-linux-android) and cargo-ndk.
//
// NOTE: this build has never run, because the development machine has no
// Android SDK and reaches no Maven repository. The plugin and dependency
// versions and the cargo-ndk command line are unverified.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

val repositoryRoot: File = rootDir.parentFile

// Android ABI names; cargo-ndk maps them to the Rust targets
// aarch64-linux-android, armv7-linux-androideabi and x86_64-linux-android.
val rustAbis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

// Cargo profile of the Rust library: "release" (default) or "debug", set
// with -Pvigil.rustProfile=debug for faster local builds.
val rustProfile = providers.gradleProperty("vigil.rustProfile").getOrElse("release")
require(rustProfile == "release" || rustProfile == "debug") {
    "vigil.rustProfile must be release or debug, not '$rustProfile'"
}

// Written by scripts/generate-bindings.sh; package uniffi.vigil_ffi.
val generatedKotlinDir = File(repositoryRoot, "bindings/generated/kotlin")
// Written by cargo-ndk as <abi>/libvigil_ffi.so.
val rustJniLibsDir = layout.buildDirectory.dir("rustJniLibs").get().asFile

group = "app.vigil"
version = readWorkspaceVersion(File(repositoryRoot, "Cargo.toml"))

/** Reads `version` from the [workspace.package] table, so the AAR and the Rust crates share one version. */
fun readWorkspaceVersion(cargoToml: File): String {
    val table = cargoToml.readText()
        .substringAfter("[workspace.package]", missingDelimiterValue = "")
        .substringBefore("\n[")
    return Regex("""(?m)^\s*version\s*=\s*"([^"]+)"""").find(table)?.groupValues?.get(1)
        ?: error("no version in the [workspace.package] table of $cargoToml")
}

android {
    namespace = "app.vigil.core"
    compileSdk = 35
    // cargo-ndk gets this NDK through ANDROID_NDK_HOME unless that is set already.
    ndkVersion = "27.2.12479018"

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        java.srcDir(generatedKotlinDir)
        jniLibs.srcDir(rustJniLibsDir)
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // The generated bindings call into Rust through JNA, whose AAR carries
    // libjnidispatch.so for each ABI. JNA types appear in the generated
    // public API, so apps compile against JNA too. UniFFI needs JNA 5.12 or
    // newer; 5.13.0 is the version scripts/test-kotlin.sh runs against.
    api("net.java.dev.jna:jna:5.13.0@aar")
    // The generated code uses coroutines for async Rust functions; 1.8.0 is
    // the version that ships with the test compiler.
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.0")
}

// Cargo tracks the Rust sources itself, so both tasks always run and cargo
// decides what to rebuild.
val generateUniffiBindings by tasks.registering(Exec::class) {
    group = "vigil"
    description = "Generates the Kotlin bindings from a host build of vigil-ffi."
    workingDir = repositoryRoot
    commandLine(
        buildList {
            add(File(repositoryRoot, "scripts/generate-bindings.sh").path)
            if (rustProfile == "release") add("--release")
        },
    )
    outputs.dir(generatedKotlinDir)
    outputs.upToDateWhen { false }
}

val buildRustLibraries by tasks.registering(Exec::class) {
    group = "vigil"
    description = "Builds libvigil_ffi.so for ${rustAbis.joinToString()} with cargo-ndk."
    workingDir = repositoryRoot
    commandLine(
        buildList {
            add("cargo")
            add("ndk")
            rustAbis.forEach { abi -> addAll(listOf("-t", abi)) }
            addAll(listOf("-o", rustJniLibsDir.path))
            addAll(listOf("build", "-p", "vigil-ffi", "--lib"))
            if (rustProfile == "release") add("--release")
        },
    )
    val ndkDirectory = androidComponents.sdkComponents.ndkDirectory
    doFirst {
        if (System.getenv("ANDROID_NDK_HOME").isNullOrEmpty()) {
            environment("ANDROID_NDK_HOME", ndkDirectory.get().asFile.absolutePath)
        }
    }
    outputs.dir(rustJniLibsDir)
    outputs.upToDateWhen { false }
}

tasks.named("preBuild") {
    dependsOn(generateUniffiBindings, buildRustLibraries)
}
