/*
 * pgJDBC's server-side prepared statements for tests/integration/test_pool_prepared_drivers.py.
 *
 * Reads key=value lines on standard input: test.url (the JDBC URL), test.connections (N),
 * test.rounds (R), test.table (a table the user may INSERT into: conn int, round int, k int);
 * every other key is a connection Property (user, password, prepareThreshold, ...).
 *
 * Opens N connections and runs on each, first, in this order (so that every connection names
 * them alike, S_1, S_2, S_3 with prepareThreshold=1; its round is -1):
 *   own: SELECT 'conn-<i>:' || ?::text AS tag       (a text of its own under the same name;
 *        its parameter is bound as Types.OTHER, of no type: pgJDBC describes the statement)
 *   add: SELECT ?::int + 1                           (one text on every connection)
 *   pid: SELECT pg_backend_pid()
 * Then R rounds; in round r the holder h = r % N opens a transaction (setAutoCommit(false)),
 * runs its three statements and an executeBatch of 3 INSERTs (h, r, 0..2), and keeps the
 * transaction open while every other connection runs its three statements in autocommit;
 * then the holder runs pid once more and commits, or, when r % 4 == 3, runs SELECT 1 / ?::int
 * with 0, then own and add in the aborted transaction, and rolls back. Each
 * connection also prepares, runs twice and closes a fresh PreparedStatement every round
 * (SELECT ?::int * 2): with preparedStatementCacheQueries=0 each is a new S_n, closed after.
 * (pgJDBC prepares its own BEGIN, COMMIT and ROLLBACK too, each under the next name.)
 * At the end, every connection runs an executeBatch of 5 INSERTs (i, R, 0..4) in autocommit
 * and lists pg_prepared_statements (name, statement) of the backend it gets.
 *
 * Prints one tab-separated line per result:
 *   own   <conn> <round> <txn: t|f> <tag>
 *   add   <conn> <round> <txn> <argument> <result>
 *   twice <conn> <round> <txn> <argument> <result>
 *   pid   <conn> <round> <txn> <backend pid>
 *   batch <conn> <round> <txn> <update counts, comma-separated>
 *   fail  <conn> <round> <statement: div|own|add> <sqlstate of its error, or "none">
 *   end   <conn> <round> <commit|rollback>
 *   name  <conn> <statement name> <statement text, tabs and newlines as spaces>
 *   done  <conn>
 * An SQLException ends the run: "error <sqlstate> <message>" on standard output, the stack
 * trace on standard error, exit status 1.
 * Compiled at test time: javac -cp /usr/share/java/postgresql.jar JdbcPrepared.java
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcPrepared {
    private static final class Client {
        final int id;
        final Connection conn;
        final PreparedStatement own;
        final PreparedStatement add;
        final PreparedStatement pid;
        final PreparedStatement insert;

        Client(int id, Connection conn, String table) throws SQLException {
            this.id = id;
            this.conn = conn;
            this.own = conn.prepareStatement("SELECT 'conn-" + id + ":' || ?::text AS tag");
            this.add = conn.prepareStatement("SELECT ?::int + 1");
            this.pid = conn.prepareStatement("SELECT pg_backend_pid()");
            this.insert = conn.prepareStatement("INSERT INTO " + table + " (conn, round, k) VALUES (?, ?, ?)");
        }
    }

    private static String tf(boolean b) {
        return b ? "t" : "f";
    }

    private static void out(Object... fields) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fields.length; i++) {
            if (i > 0) {
                sb.append('\t');
            }
            sb.append(String.valueOf(fields[i]).replace('\t', ' ').replace('\n', ' '));
        }
        System.out.println(sb);
    }

    private static String one(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
                throw new SQLException("no row");
            }
            String v = rs.getString(1);
            if (rs.next()) {
                throw new SQLException("more than one row");
            }
            return v;
        }
    }

    /* The connection's three statements, in the order they were first prepared. */
    private static void three(Client c, int round, boolean txn) throws SQLException {
        c.own.setObject(1, Integer.toString(round), Types.OTHER);
        out("own", c.id, round, tf(txn), one(c.own));
        int arg = round * 1000 + c.id;
        c.add.setInt(1, arg);
        out("add", c.id, round, tf(txn), arg, one(c.add));
        out("pid", c.id, round, tf(txn), one(c.pid));
    }

    /* A statement prepared, run twice and closed: a new name each time without a cache. */
    private static void twice(Client c, int round, boolean txn) throws SQLException {
        try (PreparedStatement ps = c.conn.prepareStatement("SELECT ?::int * 2")) {
            for (int k = 0; k < 2; k++) {
                int arg = round * 1000 + c.id * 10 + k;
                ps.setInt(1, arg);
                out("twice", c.id, round, tf(txn), arg, one(ps));
            }
        }
    }

    /* A statement that fails, then two in the aborted transaction: each must fail. */
    private static void aborted(Client c, int round) throws SQLException {
        try (PreparedStatement div = c.conn.prepareStatement("SELECT 1 / ?::int")) {
            div.setInt(1, 0);
            out("fail", c.id, round, "div", failure(div));
        }
        c.own.setObject(1, Integer.toString(round), Types.OTHER);
        out("fail", c.id, round, "own", failure(c.own));
        c.add.setInt(1, round);
        out("fail", c.id, round, "add", failure(c.add));
    }

    private static String failure(PreparedStatement ps) {
        try {
            one(ps);
            return "none";
        } catch (SQLException e) {
            return String.valueOf(e.getSQLState());
        }
    }

    private static void batch(Client c, int round, int rows, boolean txn) throws SQLException {
        for (int k = 0; k < rows; k++) {
            c.insert.setInt(1, c.id);
            c.insert.setInt(2, round);
            c.insert.setInt(3, k);
            c.insert.addBatch();
        }
        int[] counts = c.insert.executeBatch();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < counts.length; i++) {
            sb.append(i > 0 ? "," : "").append(counts[i]);
        }
        out("batch", c.id, round, tf(txn), sb);
    }

    public static void main(String[] args) throws Exception {
        Class.forName("org.postgresql.Driver");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Properties props = new Properties();
        String url = null;
        String table = null;
        int n = 0;
        int rounds = 0;
        String line;
        while ((line = in.readLine()) != null) {
            int eq = line.indexOf('=');
            if (eq <= 0) {
                continue;
            }
            String key = line.substring(0, eq);
            String value = line.substring(eq + 1);
            switch (key) {
                case "test.url": url = value; break;
                case "test.connections": n = Integer.parseInt(value); break;
                case "test.rounds": rounds = Integer.parseInt(value); break;
                case "test.table": table = value; break;
                default: props.setProperty(key, value);
            }
        }
        List<Client> clients = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                clients.add(new Client(i, DriverManager.getConnection(url, props), table));
            }
            for (Client c : clients) {
                three(c, -1, false);
            }
            for (int r = 0; r < rounds; r++) {
                Client h = clients.get(r % n);
                h.conn.setAutoCommit(false);
                three(h, r, true);
                twice(h, r, true);
                batch(h, r, 3, true);
                for (Client c : clients) {
                    if (c != h) {
                        three(c, r, false);
                        twice(c, r, false);
                    }
                }
                out("pid", h.id, r, "t", one(h.pid));
                boolean rollback = r % 4 == 3;
                if (rollback) {
                    aborted(h, r);
                    h.conn.rollback();
                } else {
                    h.conn.commit();
                }
                h.conn.setAutoCommit(true);
                out("end", h.id, r, rollback ? "rollback" : "commit");
            }
            for (Client c : clients) {
                batch(c, rounds, 5, false);
            }
            for (Client c : clients) {
                try (Statement st = c.conn.createStatement();
                     ResultSet rs = st.executeQuery(
                             "SELECT name, statement FROM pg_prepared_statements ORDER BY name")) {
                    while (rs.next()) {
                        out("name", c.id, rs.getString(1), rs.getString(2));
                    }
                }
                out("done", c.id);
            }
        } catch (SQLException e) {
            out("error", e.getSQLState() == null ? "-" : e.getSQLState(), e.getMessage());
            System.out.flush();
            e.printStackTrace();
            System.exit(1);
        } finally {
            for (Client c : clients) {
                try {
                    c.conn.close();
                } catch (SQLException e) {
                    // the run's result is printed already
                }
            }
        }
        System.out.flush();
    }
}
