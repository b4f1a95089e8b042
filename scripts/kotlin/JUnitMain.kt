// Command-line runner for the JUnit 4 tests in tests/kotlin, used by
// scripts/test-kotlin.sh. It finds every compiled class with an @org.junit.Test
// method, runs them with JUnitCore, prints one line per test and closes with
// the line "N passed, N failed" (", N skipped" is appended when tests were
// skipped). The exit status is 1 when a test failed or no test ran.
package vigil.testrunner

import java.io.File
import java.lang.reflect.Modifier
import kotlin.system.exitProcess
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

private enum class Outcome { PASSED, FAILED, SKIPPED }

/** Per-test progress output and the counts behind the closing line. */
private class CountingListener : RunListener() {
    var passed = 0
    var failed = 0
    var skipped = 0

    private val running = mutableMapOf<Description, Outcome>()
    private val startNanos = mutableMapOf<Description, Long>()
    private val failures = mutableMapOf<Description, MutableList<Failure>>()

    override fun testStarted(description: Description) {
        running[description] = Outcome.PASSED
        startNanos[description] = System.nanoTime()
    }

    override fun testFailure(failure: Failure) {
        val description = failure.description
        if (description in running) {
            // Printed in testFinished, after the test's FAIL line.
            running[description] = Outcome.FAILED
            failures.getOrPut(description) { mutableListOf() }.add(failure)
            return
        }

        // A failure outside a running test, such as an exception in a
        // @BeforeClass method or a class that cannot be instantiated.
        failed++
        println("FAIL  ${description.displayName}")
        printFailure(failure)
    }

    override fun testAssumptionFailure(failure: Failure) {
        if (failure.description in running) {
            running[failure.description] = Outcome.SKIPPED
        }
    }

    override fun testIgnored(description: Description) {
        skipped++
        println("SKIP  ${testName(description)} (@Ignore)")
    }

    override fun testFinished(description: Description) {
        val outcome = running.remove(description) ?: return
        val elapsedMillis = (System.nanoTime() - (startNanos.remove(description) ?: 0)) / 1_000_000
        val name = testName(description)
        when (outcome) {
            Outcome.PASSED -> {
                passed++
                println("PASS  $name ($elapsedMillis ms)")
            }
            Outcome.FAILED -> {
                failed++
                println("FAIL  $name ($elapsedMillis ms)")
                failures.remove(description)?.forEach(::printFailure)
            }
            Outcome.SKIPPED -> {
                skipped++
                println("SKIP  $name (assumption failed)")
            }
        }
    }

    private fun printFailure(failure: Failure) {
        // The trimmed trace stops at the test method and drops JUnit's frames.
        failure.trimmedTrace.trimEnd().lineSequence().forEach { println("      $it") }
    }

    private fun testName(description: Description): String =
        "${description.className}.${description.methodName ?: description.displayName}"
}

/** Loads every class under [classesDir] without running its static initializers. */
private fun loadClasses(classesDir: File): List<Class<*>> {
    val loader = Thread.currentThread().contextClassLoader
    return classesDir.walkTopDown()
        .filter { it.isFile && it.extension == "class" && it.name != "module-info.class" }
        .map { it.relativeTo(classesDir).path.removeSuffix(".class").replace(File.separatorChar, '.') }
        .sorted()
        .map { Class.forName(it, false, loader) }
        .toList()
}

private fun isTestClass(type: Class<*>): Boolean =
    !Modifier.isAbstract(type.modifiers) &&
        type.methods.any { it.isAnnotationPresent(org.junit.Test::class.java) }

/**
 * Runs the tests compiled into the folder given as the first argument. Further
 * arguments select test classes by simple or fully qualified name.
 */
fun main(args: Array<String>) {
    if (args.isEmpty()) {
        System.err.println("usage: JUnitMain CLASSES_DIR [TEST_CLASS...]")
        exitProcess(2)
    }
    val classesDir = File(args[0])
    val selectedNames = args.drop(1).toSet()

    val testClasses = loadClasses(classesDir)
        .filter(::isTestClass)
        .filter { selectedNames.isEmpty() || it.simpleName in selectedNames || it.name in selectedNames }
    val unmatchedNames = selectedNames.filter { name ->
        testClasses.none { it.simpleName == name || it.name == name }
    }
    if (unmatchedNames.isNotEmpty()) {
        System.err.println("error: no test class named ${unmatchedNames.joinToString()} in $classesDir")
        exitProcess(2)
    }

    val listener = CountingListener()
    val core = JUnitCore()
    core.addListener(listener)
    core.run(*testClasses.toTypedArray())

    val total = listener.passed + listener.failed + listener.skipped
    if (total == 0) {
        println("No tests found in $classesDir: annotate test methods with @org.junit.Test.")
    }
    val skippedSuffix = if (listener.skipped > 0) ", ${listener.skipped} skipped" else ""
    println("${listener.passed} passed, ${listener.failed} failed$skippedSuffix")
    exitProcess(if (listener.failed > 0 || total == 0) 1 else 0)
}
