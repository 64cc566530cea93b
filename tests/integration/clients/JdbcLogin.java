/*
 * pgJDBC logins for tests/integration/test_auth_clients.py. Reads one login per line on
 * standard input, tab-separated:
 *   <name> TAB <jdbc url> TAB <key>=<value> TAB <key>=<value> ...
 * (the key=value pairs are the connection's Properties: user, password, sslmode, ...), logs in,
 * runs SELECT session_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid(), and prints one
 * line per login:
 *   <name> TAB OK TAB <session_user> TAB <server-side ssl: t|f>
 *   <name> TAB ERR TAB <sqlstate or -> TAB <message, one line>
 * Exit status 0 once every line was tried.
 * Compiled at test time: javac -cp /usr/share/java/postgresql.jar JdbcLogin.java
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class JdbcLogin {
    public static void main(String[] args) throws Exception {
        Class.forName("org.postgresql.Driver");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t");
            Properties props = new Properties();
            for (int i = 2; i < f.length; i++) {
                int eq = f[i].indexOf('=');
                props.setProperty(f[i].substring(0, eq), f[i].substring(eq + 1));
            }
            props.setProperty("connectTimeout", "10");
            props.setProperty("loginTimeout", "20");
            try (Connection c = DriverManager.getConnection(f[1], props);
                 Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery(
                         "SELECT session_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) {
                rs.next();
                System.out.println(f[0] + "\tOK\t" + rs.getString(1) + "\t" + (rs.getBoolean(2) ? "t" : "f"));
            } catch (SQLException e) {
                String state = e.getSQLState() == null ? "-" : e.getSQLState();
                String msg = String.valueOf(e.getMessage()).replace('\n', ' ').replace('\t', ' ');
                System.out.println(f[0] + "\tERR\t" + state + "\t" + msg);
            }
            System.out.flush();
        }
    }
}
