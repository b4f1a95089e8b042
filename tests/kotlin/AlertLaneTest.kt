import java.io.File
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.AlertKind
import uniffi.vigil_ffi.AlertListener
import uniffi.vigil_ffi.AlertState
import uniffi.vigil_ffi.AlertStatus
import uniffi.vigil_ffi.LocationRequester
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * Raises alerts from Kotlin against a `vigil serve` process on loopback and follows their
 * states through the listener, as an app's panic screen would.
 */
class AlertLaneTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var port = 0

    /** Keeps every status the listener receives. */
    private class Recorder : AlertListener {
        val seen: MutableList<AlertStatus> = Collections.synchronizedList(mutableListOf())

        override fun onAlertState(status: AlertStatus) {
            seen.add(status)
        }

        fun states(recordId: String): List<AlertState> =
            synchronized(seen) { seen.filter { it.recordId == recordId }.map { it.state } }

        /** Waits for a state; the limit only turns a lost alert into a failure. */
        fun waitFor(recordId: String, state: AlertState): AlertStatus {
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
            while (System.nanoTime() < deadline) {
                synchronized(seen) { seen.firstOrNull { it.recordId == recordId && it.state == state } }
                    ?.let { return it }
                Thread.sleep(10)
            }
            error("alert $recordId never reached $state; states seen: ${states(recordId)}")
        }
    }

    @Before
    fun createFolder() {
        folder = Files.createTempDirectory("vigil-kotlin-alerts").toFile()
        port = freeLoopbackPort()
    }

    private fun startServer() {
        server = startVigilServe(folder, port, ENROLLMENT_CODE)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }

    private fun openDevice(): Vigil =
        Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-alerts",
                guardId = "kotlin-guard",
                serverUrl = "http://127.0.0.1:$port",
                enrollmentCode = ENROLLMENT_CODE,
                requestTimeoutMs = 3000uL,
                alertResendIntervalMs = 100uL,
                alertRequestTimeoutMs = 2000uL,
            ),
        )

    @Test
    fun alertIsDeliveredThroughListener() = runBlocking {
        startServer()
        val device = openDevice()
        val recorder = Recorder()
        device.setAlertListener(recorder)

        val requests = Collections.synchronizedList(mutableListOf<Boolean>())
        device.setLocationRequester(object : LocationRequester {
            override fun setHighAccuracy(enabled: Boolean) {
                requests.add(enabled)
            }
        })

        val raised = device.raiseAlert(AlertKind.MAN_DOWN)
        assertEquals(AlertState.STORED, raised.state)
        assertEquals(AlertKind.MAN_DOWN, raised.kind)
        assertNull(raised.deliveredAtMs)

        val delivered = recorder.waitFor(raised.recordId, AlertState.DELIVERED)
        assertNotNull(delivered.deliveredAtMs)
        assertEquals(listOf(AlertState.STORED, AlertState.SENT, AlertState.DELIVERED), recorder.states(raised.recordId))
        assertEquals(delivered, device.alertStatus(raised.recordId))
        assertEquals(listOf(true), synchronized(requests) { requests.toList() }, "high accuracy while the alert is active")
        device.close()
    }

    @Test
    fun alertLeftByKilledAppGoesOutOnReopen() = runBlocking {
        // The server is down while the alert is raised.
        val first = openDevice()
        val raised = first.raiseAlert(AlertKind.PANIC)
        first.close()

        startServer()
        val reopened = openDevice()
        val recorder = Recorder()
        reopened.setAlertListener(recorder)
        // The lane may have delivered it before the listener was set, so poll the state too.
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (reopened.alertStatus(raised.recordId).state != AlertState.DELIVERED) {
            check(System.nanoTime() < deadline) { "the alert never reached the server" }
            Thread.sleep(10)
        }
        assertNotNull(reopened.alertStatus(raised.recordId).deliveredAtMs)
        reopened.close()
    }

    @Test
    fun duressCancelLooksLikeCancel() = runBlocking {
        startServer()
        val device = openDevice()
        val recorder = Recorder()
        device.setAlertListener(recorder)
        device.setAlertPins("2468", "1357")

        val first = device.raiseAlert(AlertKind.PANIC)
        val second = device.raiseAlert(AlertKind.PANIC)
        recorder.waitFor(first.recordId, AlertState.DELIVERED)
        recorder.waitFor(second.recordId, AlertState.DELIVERED)
        val wrong = assertFailsWith<VigilException.InvalidInput> { device.cancelAlert(first.recordId, "0000") }
        assertEquals("pin", wrong.field)

        val byCancel = device.cancelAlert(first.recordId, "2468")
        val byDuress = device.cancelAlert(second.recordId, "1357")
        assertEquals(AlertState.CANCELLED, byCancel.state)
        assertEquals(byCancel.state, byDuress.state)
        assertEquals(byCancel.kind, byDuress.kind)
        assertEquals(recorder.states(first.recordId), recorder.states(second.recordId))
        assertEquals(2, synchronized(recorder.seen) { recorder.seen.map { it.recordId }.toSet().size }, "no duress alert is shown")
        device.close()
    }

    @Test
    fun unknownAlertIsNotFound() = runBlocking {
        val device = openDevice()
        assertFailsWith<VigilException.NotFound> { device.alertStatus("01a242ba-38ba-743e-943b-d29873056674") }
        assertFailsWith<VigilException.InvalidInput> { device.alertStatus("not-an-id") }
        device.close()
    }

    private companion object {
        const val ENROLLMENT_CODE = "kotlin-enroll"
    }
}
