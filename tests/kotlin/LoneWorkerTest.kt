import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.AlertKind
import uniffi.vigil_ffi.AlertListener
import uniffi.vigil_ffi.AlertStatus
import uniffi.vigil_ffi.LoneWorkerListener
import uniffi.vigil_ffi.LoneWorkerPolicy
import uniffi.vigil_ffi.LoneWorkerStage
import uniffi.vigil_ffi.LoneWorkerStatus
import uniffi.vigil_ffi.ManDownListener
import uniffi.vigil_ffi.ManDownPolicy
import uniffi.vigil_ffi.ManDownStage
import uniffi.vigil_ffi.MonotonicClock
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * Runs the lone-worker check-in timer from Kotlin: the stages reach the listener, a missed
 * check-in raises a MISSED_CHECK_IN alert, and a check-in starts a new interval; the
 * no-motion detector raises a MAN_DOWN alert.
 */
class LoneWorkerTest {
    private lateinit var folder: File

    private class Stages : LoneWorkerListener {
        val seen: MutableList<LoneWorkerStage> = Collections.synchronizedList(mutableListOf())

        override fun onLoneWorker(status: LoneWorkerStatus) {
            seen.add(status.stage)
        }
    }

    private class Alerts : AlertListener {
        val kinds: MutableList<AlertKind> = Collections.synchronizedList(mutableListOf())

        override fun onAlertState(status: AlertStatus) {
            kinds.add(status.kind)
        }
    }

    /** A monotonic clock like Android's `SystemClock.elapsedRealtime()`. */
    private class NanoClock : MonotonicClock {
        override fun elapsedMs(): ULong = (System.nanoTime() / 1_000_000).toULong()
    }

    @Before
    fun createFolder() {
        folder = Files.createTempDirectory("vigil-kotlin-lone").toFile()
    }

    @After
    fun deleteFolder() {
        folder.deleteRecursively()
    }

    private fun openDevice(): Vigil {
        // Nothing listens on this port: the alert stays on the device, which is enough here.
        val port = ServerSocket(0).use { it.localPort }
        return Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-lone",
                guardId = "kotlin-guard",
                serverUrl = "http://127.0.0.1:$port",
                enrollmentCode = "code",
            ),
        )
    }

    @Test
    fun missedCheckInRaisesAlert() = runBlocking {
        val device = openDevice()
        device.setMonotonicClock(NanoClock())
        val stages = Stages()
        val alerts = Alerts()
        device.setLoneWorkerListener(stages)
        device.setAlertListener(alerts)

        val started = device.startLoneWorker(LoneWorkerPolicy(600uL, 300uL, 200uL))
        assertEquals(LoneWorkerStage.RUNNING, started.stage)

        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (!stages.seen.contains(LoneWorkerStage.ALERTED) && System.nanoTime() < deadline) {
            Thread.sleep(10)
        }
        assertEquals(
            listOf(LoneWorkerStage.RUNNING, LoneWorkerStage.WARNING, LoneWorkerStage.GRACE, LoneWorkerStage.ALERTED),
            stages.seen.toList(),
        )
        assertTrue(alerts.kinds.contains(AlertKind.MISSED_CHECK_IN), "alerts seen: ${alerts.kinds}")

        val confirmed = device.confirmLoneWorker()
        assertEquals(LoneWorkerStage.RUNNING, confirmed.stage)
        device.stopLoneWorker()
        assertNull(device.loneWorkerStatus())
        device.close()
    }

    @Test
    fun confirmWithoutTimerFails() = runBlocking {
        val device = openDevice()
        assertFailsWith<VigilException.InvalidState> { device.confirmLoneWorker() }
        assertFailsWith<VigilException.InvalidInput> {
            device.startLoneWorker(LoneWorkerPolicy(1000uL, 1000uL, 0uL))
        }
        device.close()
    }

    @Test
    fun stillnessRaisesManDown() = runBlocking {
        val device = openDevice()
        val alerts = Alerts()
        device.setAlertListener(alerts)
        val stages: MutableList<ManDownStage> = Collections.synchronizedList(mutableListOf())
        device.setManDownListener(object : ManDownListener {
            override fun onManDown(stage: ManDownStage) {
                stages.add(stage)
            }
        })

        device.startManDown(ManDownPolicy(300uL, 200uL))
        device.recordAcceleration(0.0, 0.0, 9.81)
        device.recordMotion(false)
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (!stages.contains(ManDownStage.ALERTED) && System.nanoTime() < deadline) {
            Thread.sleep(10)
        }

        assertEquals(listOf(ManDownStage.WARNING, ManDownStage.ALERTED), stages.toList())
        assertTrue(alerts.kinds.contains(AlertKind.MAN_DOWN), "alerts seen: ${alerts.kinds}")
        device.recordAcceleration(4.0, 0.0, 12.0)
        assertEquals(ManDownStage.MOVING, device.manDownStage())
        device.stopManDown()
        assertNull(device.manDownStage())
        device.close()
    }
}
